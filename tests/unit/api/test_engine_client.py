"""pipeline/api on docker-py's APIClient: errors translated from the real docker.errors and
requests exceptions, the request-level calls (raw specs, rollback=previous, a config's labels at
a version, a task's logs), the two stream followers stopped at once by close(), and the Docker
config's logins. Against tests/support/unix_http.py's server on a unix socket (no engine)."""
import base64
import json
import struct
import threading
import time

import docker
import pytest
import urllib3.exceptions

from pipeline.api import auth, engine, errors, rest
from pipeline.api.events import ContainerExits
from pipeline.api.follow import Follower
from pipeline.api.logs import ServiceLogFollower
from pipeline.console import Console
from pipeline.context import Context
from pipeline.errors import EngineError, UsageError
from tests.support.poll import poll_until
from tests.support.unix_http import Reply, Server


def _client(server, timeout=10):
    return docker.APIClient(base_url=server.host, version="1.41", timeout=timeout)


def _frame(payload, stream=1):
    return struct.pack(">BxxxL", stream, len(payload)) + payload


# --- errors -------------------------------------------------------------------------------

def test_an_error_status_is_refused_with_the_engines_message_and_404_is_not_found(tmp_path):
    routes = {
        ("GET", "/services/gone"): lambda seen: Reply(404, {"message": "service gone not found"}),
        ("GET", "/services/busy"): lambda seen: Reply(
            500, {"message": "rpc error: the swarm does not have a leader"}),
        ("GET", "/tasks"): lambda seen: Reply(403, {"message": "this node is not a manager"}),
    }
    with Server(tmp_path, routes) as server:
        api = _client(server)
        assert engine.inspect_service(api, "gone") is None
        with pytest.raises(errors.NotFoundError) as found:
            engine.call(api.inspect_service, "gone")
        assert found.value.status_code == 404 and found.value.detail == "service gone not found"
        with pytest.raises(errors.Refused) as busy:
            engine.call(api.inspect_service, "busy")
        assert busy.value.message == "rpc error: the swarm does not have a leader"
        assert errors.is_transient(busy.value)
        # an engine function says what it could not do, and keeps what the engine said
        with pytest.raises(errors.Refused) as said:
            engine.inspect_service(api, "busy")
        assert said.value.message == ("cannot inspect service busy: rpc error: the swarm does "
                                      "not have a leader")
        assert errors.is_transient(said.value) and said.value.status_code == 500
        with pytest.raises(errors.Refused) as refused:
            with errors.engine_errors("status of svc"):   # said already: left as it is
                engine.list_tasks(api, "svc")
        assert str(refused.value) == ("cannot list the service's tasks: this node is not a "
                                      "manager")
        assert refused.value.detail == "this node is not a manager"
        assert not errors.is_transient(refused.value)
        with pytest.raises(EngineError) as wrapped:
            with errors.engine_errors("status of svc"):
                engine.call(api.tasks)
        assert str(wrapped.value) == "status of svc: this node is not a manager"


def test_no_engine_is_unreachable_and_transient(tmp_path):
    api = docker.APIClient(base_url=f"unix://{tmp_path}/none.sock", version="1.41")
    with pytest.raises(errors.Unreachable) as lost:
        engine.info(api)
    assert lost.value.status_code is None and errors.is_transient(lost.value)
    assert lost.value.message == "No such file or directory"
    with pytest.raises(EngineError) as said:
        with errors.engine_errors("status of web"):
            engine.inspect_service(api, "web")
    assert str(said.value).startswith("status of web: lost the connection to the Docker Engine "
                                      "(No such file or directory) (check that dockerd runs")
    assert engine.service_tasks(api, "svc") is None        # best effort: no answer, no tasks
    assert engine.inspect_container(api, "c1") is None
    assert engine.task_log_tail(api, "t1", 5) is None


def test_a_slow_answer_times_out_and_a_cut_one_is_a_lost_connection(tmp_path):
    def slow(seen):
        server.stop.wait(5)
        return Reply(body={})

    def cut(seen):   # a chunked body that ends in the middle of a chunk
        def chunks():
            yield b'{"ID": "x", '
            raise ConnectionAbortedError("the engine went away")
        return Reply(body=chunks)

    with Server(tmp_path, {("GET", "/services/slow"): slow,
                           ("GET", "/services/cut"): cut}) as server:
        with pytest.raises(errors.TimedOut) as late:
            engine.inspect_service(_client(server, timeout=0.2), "slow")
        assert errors.is_transient(late.value)
        with pytest.raises(errors.Unreachable):
            engine.inspect_service(_client(server), "cut")


def test_a_stream_that_breaks_or_stalls_is_lost_or_timed_out():
    """What a followed stream's reader gets from urllib3, as the same classes."""
    broken = urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")
    late = urllib3.exceptions.ReadTimeoutError(None, "/events", "Read timed out.")
    assert isinstance(errors.translate(broken), errors.Unreachable)
    assert isinstance(errors.translate(late), errors.TimedOut)


def test_what_is_no_engine_error_passes_untranslated():
    for exc in (ValueError("a bug"), UsageError("bad input"), docker.errors.NullResource("x")):
        with pytest.raises(type(exc)) as raised:
            with errors.translated():
                raise exc
        assert raised.value is exc
        assert errors.translate(exc) is None


# --- request-level calls ------------------------------------------------------------------

def test_raw_spec_writes_go_as_they_are_with_the_registry_login(tmp_path):
    spec = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "r:v1"}},
            "Labels": {"a": "1"}, "Mode": None}
    routes = {("POST", "/services/create"): lambda seen: Reply(201, {"ID": "s1"}),
              ("POST", "/services/s1/update"): lambda seen: Reply(body={"Warnings": ["w"]})}
    with Server(tmp_path, routes) as server:
        api = _client(server)
        assert engine.create_service(api, spec, "AUTH") == "s1"
        assert engine.update_service(api, "s1", 7, spec, rollback=True) == ["w"]
    create, update = server.seen
    assert create.json() == {k: v for k, v in spec.items() if v is not None}
    assert create.headers["X-Registry-Auth"] == "AUTH"
    assert update.query == {"version": ["7"], "rollback": ["previous"]}
    assert "X-Registry-Auth" not in update.headers


def test_a_service_change_out_of_sequence_is_refused_as_such(tmp_path):
    message = "rpc error: code = Unknown desc = update out of sequence"
    with Server(tmp_path, {("POST", "/services/s1/update"):
                           lambda seen: Reply(500, {"message": message})}) as server:
        with pytest.raises(errors.Refused) as refused:
            engine.update_service(_client(server), "s1", 3, {"Name": "web"})
    assert errors.is_out_of_sequence(refused.value) and refused.value.status_code == 500


def test_config_labels_are_written_at_the_version_read(tmp_path):
    config = {"ID": "c1", "Version": {"Index": 12},
              "Spec": {"Name": "shipway-lock-web", "Data": "eA==", "Labels": {"old": "1"}}}
    answers = iter([Reply(200), Reply(500, {"message": "update out of sequence"}),
                    Reply(404, {"message": "config c1 not found"}),
                    Reply(400, {"message": "only updates to Labels are allowed"})])
    with Server(tmp_path, {("POST", "/configs/c1/update"):
                           lambda seen: next(answers)}) as server:
        api = _client(server)
        assert engine.update_config_labels(api, config, {"new": "2"})
        assert not engine.update_config_labels(api, config, {"new": "3"})
        assert not engine.update_config_labels(api, config, {"new": "4"})
        with pytest.raises(EngineError, match="cannot update config shipway-lock-web: only "):
            engine.update_config_labels(api, config, {"new": "5"})
    assert server.seen[0].query == {"version": ["12"]}
    assert server.seen[0].json() == {**config["Spec"], "Labels": {"new": "2"}}


def test_the_url_quotes_path_arguments_as_docker_py_does(tmp_path):
    with Server(tmp_path) as server:
        api = _client(server)
        assert rest.url(api, "/tasks/{0}/logs", "a b/c:d?") == \
            "http+docker://localhost/v1.41/tasks/a%20b/c:d%3F/logs"


def test_a_tasks_log_is_demultiplexed_and_its_tail_kept(tmp_path):
    log = _frame(b"one\ntwo\n") + _frame(b"three\n", stream=2) + _frame(b"four\n")

    def chunks():   # split anywhere, frame headers included
        for at in range(0, len(log), 5):
            yield log[at:at + 5]

    with Server(tmp_path, {("GET", "/tasks/t1/logs"):
                           lambda seen: Reply(body=chunks)}) as server:
        assert engine.task_log_tail(_client(server), "t1", 3) == ["two", "three", "four"]
    assert server.seen[0].query == {"stdout": ["1"], "stderr": ["1"], "tail": ["3"]}


# --- followed streams ---------------------------------------------------------------------

@pytest.fixture
def thread_errors(monkeypatch):
    """The exceptions follower threads die of (none may be swallowed, none may happen)."""
    found = []
    monkeypatch.setattr(threading, "excepthook", lambda args: found.append(args.exc_value))
    return found


def test_the_service_log_follower_keeps_lines_and_close_stops_it_at_once(
        tmp_path, thread_errors):
    line = "com.docker.swarm.node.id=n1,com.docker.swarm.task.id={} {}\n"

    def stream():
        yield _frame(line.format("t1", "starting").encode())
        yield _frame(line.format("t2", "fatal: no config").encode(), stream=2)
        server.stop.wait(30)   # then nothing more: the reader waits in recv

    with Server(tmp_path, {("GET", "/services/s1/logs"):
                           lambda seen: Reply(body=stream)}) as server:
        follower = ServiceLogFollower(_client(server, timeout=0.5), "s1", 1000, 50).start()
        poll_until(lambda: follower.tail("t2"), 10, "the followed lines", interval=0.01)
        assert follower.tail("t1") == ["starting"] and follower.tail("t2") == ["fatal: no config"]
        time.sleep(1)   # longer than the client's timeout: a followed stream has none
        assert follower._thread.is_alive()
        follower.close()
        follower._thread.join(5)
        assert not follower._thread.is_alive(), "close() did not stop the follower"
    assert server.seen[-1].query == {"details": ["1"], "follow": ["1"], "stdout": ["1"],
                                     "stderr": ["1"], "since": ["995"]}
    assert thread_errors == []


def test_the_container_exits_follower_reports_each_die_and_stops_on_close(
        tmp_path, thread_errors):
    def stream():
        yield b'{"Type":"container","Action":"die","id":"c1"}\n{"Type":"container",'
        yield b'"Action":"die","id":"c2","status":"die"}\n'
        server.stop.wait(30)

    routes = {("GET", "/info"): lambda seen: Reply(body={"Swarm": {"NodeID": "n1"}}),
              ("GET", "/events"): lambda seen: Reply(body=stream)}
    with Server(tmp_path, routes) as server:
        seen = []
        exits = ContainerExits(_client(server), "s1", 1000, seen.append).start()
        poll_until(lambda: len(seen) == 2, 10, "both exits", interval=0.01)
        assert seen == ["c1", "c2"] and exits.node_id == "n1" and exits.alive
        exits.close()
        poll_until(lambda: not exits.alive, 5, "the follow to end", interval=0.01)
    asked = server.seen[-1].query
    assert json.loads(asked["filters"][0]) == {
        "type": ["container"], "event": ["die"], "label": ["com.docker.swarm.service.id=s1"]}
    assert asked["since"] == ["995"]
    assert thread_errors == []


def test_a_refused_or_lost_stream_only_ends_the_follow(tmp_path, thread_errors):
    routes = {("GET", "/info"): lambda seen: Reply(body={"Swarm": {"NodeID": "n1"}}),
              ("GET", "/events"): lambda seen: Reply(500, {"message": "no events here"})}
    with Server(tmp_path, routes) as server:
        exits = ContainerExits(_client(server), "s1", 1000, print).start()
        poll_until(lambda: not exits.alive, 10, "the refused follow to end", interval=0.01)
        server.routes[("GET", "/info")] = lambda seen: Reply(500, {"message": "no info either"})
        exits = ContainerExits(_client(server), "s1", 1000, print).start()
        poll_until(lambda: not exits.alive, 10, "the refused follow to end", interval=0.01)
    gone = ServiceLogFollower(docker.APIClient(base_url=f"unix://{tmp_path}/none.sock",
                                               version="1.41"), "s1", 1000, 5).start()
    gone._thread.join(10)
    assert not gone._thread.is_alive() and gone.tail("t1") == []
    assert thread_errors == []


def test_a_bug_in_a_follower_is_not_swallowed(tmp_path, thread_errors):
    class Broken(Follower):
        def open(self):
            raise KeyError("a bug")

    with Server(tmp_path) as server:
        broken = Broken(_client(server), "s1", 1000).start()
        broken._thread.join(10)
    assert [type(exc) for exc in thread_errors] == [KeyError]


# --- the connection and the Docker config's logins ----------------------------------------

def test_every_command_gets_one_client(tmp_path):
    with Server(tmp_path) as server:
        ctx = Context.from_env({"DOCKER_HOST": server.host}, Console())
        found = []
        threads = [threading.Thread(target=lambda: found.append(ctx.engine())) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(found) == 4 and all(api is ctx.docker().api for api in found)
        assert isinstance(ctx.engine(), docker.APIClient)
        assert [seen.path for seen in server.seen] == ["/version"]   # asked once


def _logged_in(directory, registry="127.0.0.1:5000", user="u"):
    directory.mkdir(parents=True, exist_ok=True)
    secret = base64.b64encode(f"{user}:p".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {registry: {"auth": secret}}}))
    return directory


def _login_sent(server, config_dir):
    """The login the client sends to ask the registry about an image (None: none)."""
    api = engine.connect({"DOCKER_HOST": server.host, "DOCKER_CONFIG": str(config_dir)}).api
    engine.resolve_digest(api, "127.0.0.1:5000/app:1")
    header = server.seen[-1].headers.get("X-Registry-Auth")
    return json.loads(base64.urlsafe_b64decode(header)) if header else None


def test_a_per_build_docker_config_gives_the_login_and_one_without_config_json_none(
        tmp_path, monkeypatch):
    home = tmp_path / "home"
    _logged_in(home / ".docker", user="agent")     # the agent's shared login
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    answer = {"Descriptor": {"digest": "sha256:" + "a" * 64}, "Platforms": []}
    with Server(tmp_path, {("GET", "/distribution/127.0.0.1:5000/app:1/json"):
                           lambda seen: Reply(body=answer)}) as server:
        assert _login_sent(server, _logged_in(tmp_path / "build"))["username"] == "u"
        (tmp_path / "empty").mkdir()
        assert _login_sent(server, tmp_path / "empty") is None


def test_a_login_from_the_docker_config_is_read_as_docker_pys_client_reads_it(tmp_path):
    env = {"DOCKER_CONFIG": str(_logged_in(tmp_path))}
    assert auth.environ_login(env, "127.0.0.1:5000") == {
        "username": "u", "password": "p", "serveraddress": "127.0.0.1:5000"}
    assert auth.environ_login(env, "other:5000") is None
    assert auth.environ_login({"DOCKER_CONFIG": str(tmp_path / "none")}, "127.0.0.1:5000") \
        is None
    login = {"username": "u", "password": "p"}
    assert auth.encode_header(login) == docker.auth.encode_header(login).decode()
