"""The stdlib Engine client (pipeline/api/http.py, calls.py) against a tiny HTTP server on a
unix socket (tests/support/http_engine.py): the requests it sends (compared byte for byte
with docker-py's for the same calls), chunked and streamed answers, errors and how
pipeline/api/errors.py classifies them, version negotiation, keep-alive and threads; and
that the swarm commands' path never imports docker-py or requests."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from pipeline.api import engine, errors, http, logs
from pipeline.errors import EngineError, RegistryError
from tests.support.http_engine import RawServer, Reply, Server
from tests.support.poll import poll_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def client(server, timeout=5):
    return http.open_client({"DOCKER_HOST": server.host}, timeout)


def test_the_version_is_asked_once_unversioned_then_used_on_one_keep_alive_connection(
        tmp_path):
    routes = {("GET", "/v1.41/services/web"): lambda seen: Reply(body={"ID": "s1"})}
    with Server(tmp_path, routes) as server:
        api = client(server)
        assert api.api_version == "1.41"
        assert engine.inspect_service(api, "web") == {"ID": "s1"}
        assert engine.inspect_service(api, "web") == {"ID": "s1"}
        assert [s.target for s in server.seen] == ["/version", "/v1.41/services/web",
                                                   "/v1.41/services/web"]
        assert {s.connection for s in server.seen} == {1}
        assert server.seen[1].headers["Host"] == "localhost"


def test_requests_are_the_bytes_docker_py_sends(tmp_path):
    """The same calls through docker-py's APIClient and through the stdlib client: same
    method, path, query, body, Content-Type and X-Registry-Auth."""
    docker = pytest.importorskip("docker")

    def answer(seen):
        return Reply(body={"ID": "x", "Warnings": None})

    calls = [
        lambda api: api.tasks(filters={"service": "s1", "desired-state": ["running"]}),
        lambda api: api.configs(filters={"label": ["a=b", "c d=é"]}),
        lambda api: api.secrets(filters={"name": "db"}),
        lambda api: api.nodes(),
        lambda api: api.inspect_distribution("127.0.0.1:5000/app@sha256:ab",
                                             auth_config={"username": "u", "password": "p",
                                                          "serveraddress": "127.0.0.1:5000"}),
        lambda api: api.create_config("c1", b"\x00data", labels={"k": "v"}),
        lambda api: api.create_secret("s1", "text", labels=None),
        lambda api: api.remove_config("c1"),
        lambda api: api.inspect_container("abc"),
        lambda api: api.inspect_network("proxy"),
        lambda api: api.wait("abc", timeout=5, condition="not-running"),
        lambda api: engine.create_service(api, {"Name": "web", "Labels": None, "Mode": {}},
                                          registry_auth="eyJ4IjogMX0="),
        lambda api: engine.update_service(api, "s1", 42, {"Name": "web"}, rollback=True),
        lambda api: engine.update_config_labels(api, {"ID": "c1", "Version": {"Index": 7},
                                                      "Spec": {"Name": "c", "Data": "x"}},
                                                {"a": "1"}),
    ]

    def requests_of(directory, make_api):
        os.makedirs(directory)
        with Server(directory, fallback=answer) as server:
            api = make_api(server)
            for call in calls:
                call(api)
            return [(s.method, s.target, s.body, s.headers.get("Content-Type"),
                     s.headers.get("X-Registry-Auth")) for s in server.seen
                    if s.path != "/version"]

    theirs = requests_of(tmp_path / "sdk",
                         lambda s: docker.APIClient(base_url=s.host, version="1.41"))
    ours = requests_of(tmp_path / "ours", client)
    assert len(ours) == len(calls)
    for mine, docker_py in zip(ours, theirs):
        assert mine == docker_py


def test_chunked_answers_and_empty_bodies(tmp_path):
    tasks = [{"ID": f"t{i}", "Spec": {"x": "y" * 50}} for i in range(20)]
    routes = {("GET", "/v1.41/tasks"): lambda seen: Reply(body=tasks, chunked=True),
              ("POST", "/v1.41/configs/c1/update"): lambda seen: Reply(body=b"")}
    with Server(tmp_path, routes) as server:
        api = client(server)
        assert api.tasks() == tasks
        assert api.post_json("/configs/{0}/update", "c1", data={}) is None
        assert engine.list_tasks(api, "s1") == tasks


def test_a_multiplexed_log_is_demultiplexed_and_a_tty_log_kept(tmp_path):
    frames = b"".join(bytes([stream, 0, 0, 0]) + len(text).to_bytes(4, "big") + text
                      for stream, text in ((1, b"one\n"), (2, b"two\n"), (1, b"three\n")))
    routes = {
        ("GET", "/v1.41/containers/c1/logs"): lambda seen: Reply(
            body=frames, content_type="application/vnd.docker.multiplexed-stream"),
        ("GET", "/v1.41/containers/c2/logs"): lambda seen: Reply(
            body=b"\x01raw tty\n", content_type="application/vnd.docker.raw-stream"),
        ("GET", "/v1.41/tasks/t1/logs"): lambda seen: Reply(body=frames, chunked=True),
    }
    with Server(tmp_path, routes) as server:
        api = client(server)
        assert engine.container_log_tail(api, "c1", 2) == ["two", "three"]
        assert api.logs("c2", tail=5) == b"\x01raw tty\n"
        assert server.seen[-1].target.endswith("?stderr=1&stdout=1&timestamps=0&follow=0&tail=5")
        assert engine.task_log_tail(api, "t1", 50) == ["one", "two", "three"]


def test_the_service_log_follower_streams_and_stops_at_once(tmp_path):
    release = threading.Event()

    def stream():
        line = b"com.docker.swarm.node.id=n1,com.docker.swarm.task.id=t1 hello: fatal\n"
        yield bytes([2, 0, 0, 0]) + len(line).to_bytes(4, "big") + line
        release.wait(30)   # then nothing more: the follower is blocked in recv

    routes = {("GET", "/v1.41/services/s1/logs"): lambda seen: Reply(body=stream)}
    with Server(tmp_path, routes) as server:
        api = client(server)
        follower = logs.ServiceLogFollower(api, "s1", time.time(), 50).start()
        assert poll_until(lambda: follower.tail("t1"), 10, "the task's line",
                          interval=0.01) == ["hello: fatal"]
        assert "follow=1" in server.seen[-1].target and "details=1" in server.seen[-1].target
        started = time.monotonic()
        follower.close()
        follower._thread.join(5)
        assert not follower._thread.is_alive() and time.monotonic() - started < 2
        release.set()


def _status(code, message):
    return lambda seen: Reply(code, {"message": message})


def test_errors_carry_the_engines_message_and_are_classified(tmp_path):
    routes = {
        ("GET", "/v1.41/services/gone"): _status(404, "service gone not found"),
        ("GET", "/v1.41/configs/gone"): _status(404, "config gone not found"),
        ("POST", "/v1.41/configs/create"): _status(409, "rpc error: code = AlreadyExists "
                                                        "desc = config c1 already exists"),
        ("DELETE", "/v1.41/secrets/s1"): _status(400, "rpc error: secret s1 is in use by "
                                                      "service web"),
        ("DELETE", "/v1.41/configs/gone"): _status(404, "config gone not found"),
        ("POST", "/v1.41/services/s1/update"): _status(500, "rpc error: code = Unknown desc "
                                                            "= update out of sequence"),
        ("GET", "/v1.41/distribution/r/app:nope/json"): _status(
            500, "manifest unknown: manifest unknown"),
        ("GET", "/v1.41/tasks"): _status(503, "The swarm does not have a leader."),
        ("GET", "/v1.41/nodes"): lambda seen: Reply(400, b"plain text\n",
                                                    content_type="text/plain"),
    }
    with Server(tmp_path, routes) as server:
        api = client(server)
        assert engine.inspect_service(api, "gone") is None
        assert engine.inspect_config(api, "gone") is None
        assert engine.create_config(api, "c1", b"x", {}) is None
        assert engine.remove_object(api, "secret", "s1") == "in use"
        assert engine.remove_object(api, "config", "gone") == "gone"
        assert engine.remove_config(api, "gone") is False
        with pytest.raises(errors.Refused) as raised:
            engine.update_service(api, "s1", 3, {})
        assert engine.is_out_of_sequence(raised.value)
        assert raised.value.detail == "rpc error: code = Unknown desc = update out of sequence"
        assert raised.value.status_code == 500 and engine.is_transient(raised.value)
        with pytest.raises(RegistryError) as refused:
            engine.resolve_digest(api, "r/app:nope")
        assert str(refused.value).startswith("cannot resolve r/app:nope in the registry: "
                                             "manifest unknown (push it first")
        with pytest.raises(EngineError) as leaderless:
            engine.list_tasks(api, "s1")
        assert str(leaderless.value) == ("cannot list the service's tasks: "
                                         "The swarm does not have a leader.")
        with pytest.raises(http.HTTPStatusError) as raw:
            api.nodes()
        assert raw.value.explanation == "plain text"
        assert str(raw.value) == ("400 Client Error for http+docker://localhost/v1.41/nodes: "
                                  'Bad Request ("plain text")')
        assert isinstance(raw.value, errors.quiet_errors())
        assert not engine.is_transient(raw.value)
        assert errors.translate(raw.value).status_code == 400


def test_a_refused_connection_is_unreachable_and_transient(tmp_path):
    with socket.socket(socket.AF_UNIX) as bound:   # bound, never listening: refused
        bound.bind(str(tmp_path / "dead.sock"))
        env = {"DOCKER_HOST": f"unix://{tmp_path / 'dead.sock'}"}
        with pytest.raises(EngineError) as raised:
            engine.open_client(env)
        assert str(raised.value) == (f"cannot reach the Docker Engine at {env['DOCKER_HOST']}:"
                                     " Connection refused (start dockerd or set DOCKER_HOST)")
    with Server(tmp_path, {}) as server:
        api = client(server)
    api.close()   # the server is gone now
    with pytest.raises(errors.Unreachable) as lost:
        engine.call(api.inspect_task, "t1")
    assert engine.is_transient(lost.value)
    assert lost.value.message in ("No such file or directory", "Connection refused")
    with pytest.raises(EngineError) as said:
        with engine.engine_errors("deploy of web"):
            engine.list_tasks(api, "s1")
    assert str(said.value).startswith("deploy of web: lost the connection to the Docker Engine")
    assert engine.service_tasks(api, "s1") is None


def test_a_slow_answer_times_out_and_the_connection_is_not_reused_half_read(tmp_path):
    routes = {("GET", "/v1.41/tasks/slow"): lambda seen: Reply(body={"ID": "slow"}, delay=1),
              ("GET", "/v1.41/tasks/fast"): lambda seen: Reply(body={"ID": "fast"})}
    with Server(tmp_path, routes) as server:
        api = client(server, timeout=0.2)
        with pytest.raises(errors.TimedOut) as raised:
            engine.call(api.inspect_task, "slow")
        assert engine.is_transient(raised.value)
        assert api.inspect_task("fast") == {"ID": "fast"}   # not the slow one's late answer


def test_a_keep_alive_connection_the_engine_closed_is_replaced(tmp_path):
    routes = {("GET", "/v1.41/tasks/t1"): lambda seen: Reply(body={"ID": "t1"}, close=True)}
    with Server(tmp_path, routes) as server:
        api = client(server)
        for _ in range(3):
            assert api.inspect_task("t1") == {"ID": "t1"}
            time.sleep(0.05)   # the server has closed it by the next call
        assert server.connections == 3


def test_each_thread_has_its_own_connection(tmp_path):
    def task(seen):
        time.sleep(0.01)
        return Reply(body={"ID": seen.path.rsplit("/", 1)[1]})

    with Server(tmp_path, fallback=task) as server:
        api = client(server)
        results, failures = {}, []

        def work(n):
            try:
                results[n] = [api.inspect_task(f"t{n}-{i}")["ID"] for i in range(5)]
            except Exception as exc:   # pragma: no cover (reported below)
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert not failures
        assert results == {n: [f"t{n}-{i}" for i in range(5)] for n in range(4)}
        by_connection = {}
        for seen in server.seen[1:]:
            by_connection.setdefault(seen.connection, set()).add(seen.path.split("-")[0])
        assert len(by_connection) == 4   # one connection per thread, none shared
        assert all(len(paths) == 1 for paths in by_connection.values())


def test_connection_close_makes_the_next_request_open_a_new_connection(tmp_path):
    routes = {("GET", "/v1.41/tasks/t1"): lambda seen: Reply(body={"ID": "t1"},
                                                            headers={"Connection": "close"})}
    with Server(tmp_path, routes) as server:
        api = client(server)
        for _ in range(3):   # no pause: the answer's header, not the closed socket, says so
            assert api.inspect_task("t1") == {"ID": "t1"}
        assert server.connections == 3 and [s.connection for s in server.seen] == [1, 1, 2, 3]


VERSION = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 39\r\n\r\n'
           b'{"ApiVersion": "1.41", "Version": "x"}\n')


def test_http_1_0_interim_answers_head_and_204_through_the_client(tmp_path):
    answers = [VERSION,
               b'HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\n{"ID": "t1"}\n', None,
               b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nContent-Type: text/x\r\n\r\n",
               b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
               b'4;a=b\r\n{"ID\r\n8\r\n": "t2"}\r\n0\r\nX-Trailer: 1\r\n\r\n']
    with RawServer(tmp_path, answers) as server:
        api = http.open_client({"DOCKER_HOST": server.host}, 5)
        assert api.inspect_task("t1") == {"ID": "t1"}          # HTTP/1.0: then closed
        assert api.post("/containers/{0}/start", "c1") is None  # 100 skipped, 204: no body
        assert api.request("HEAD", "/_ping")[1:] == (b"", "text/x")
        assert api.inspect_task("t2") == {"ID": "t2"}
        assert server.connections == 2


@pytest.mark.parametrize("answer, message", [
    (b'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"ID": "t1"', "ended inside the body"),
    (b"220 smtp.example ESMTP\r\n", "not an HTTP/1.x status line"),
    (b"", "ended before the status line"),
])
def test_a_truncated_or_malformed_answer_is_a_lost_connection(tmp_path, answer, message):
    with RawServer(tmp_path, [VERSION, answer, None, VERSION]) as server:
        api = http.open_client({"DOCKER_HOST": server.host}, 5)
        with pytest.raises(http.ConnectionFailed, match=message) as raised:
            api.inspect_task("t1")
        assert str(raised.value).startswith("Connection aborted: ")
        assert isinstance(errors.translate(raised.value), errors.Unreachable)
        assert api.version()["ApiVersion"] == "1.41"   # on a new connection
        assert server.connections == 2


def test_a_connection_with_bytes_after_the_answer_is_not_reused(tmp_path):
    extra = b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"ID": "t1"}\nHTTP/1.1 200'
    with RawServer(tmp_path, [VERSION, extra, VERSION]) as server:
        api = http.open_client({"DOCKER_HOST": server.host}, 5)
        assert api.inspect_task("t1") == {"ID": "t1"}
        assert api.version()["ApiVersion"] == "1.41"   # not the stray bytes: a new connection
        assert server.connections == 2


def test_a_read_timeout_inside_a_body_is_timed_out(tmp_path):
    with RawServer(tmp_path, [VERSION, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"]) \
            as server:
        api = http.open_client({"DOCKER_HOST": server.host}, 0.2)
        with pytest.raises(http.TimedOutError, match="Read timed out"):
            api.inspect_task("t1")
        assert isinstance(errors.translate(http.TimedOutError("x")), errors.TimedOut)


def test_a_stream_cut_by_the_engine_fails_and_one_shut_down_here_ends_quietly(tmp_path):
    cut = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b'1b\r\n{"Action":"die","id":"c1"}\n\r\n')
    with RawServer(tmp_path, [VERSION, cut, None, cut]) as server:
        api = http.open_client({"DOCKER_HOST": server.host}, 5)
        lines = api.stream("/events").lines()
        assert json.loads(next(lines)) == {"Action": "die", "id": "c1"}
        with pytest.raises(http.ConnectionFailed, match="ended before the chunk size"):
            next(lines)
        stream = api.stream("/events")
        lines = stream.lines()
        assert next(lines) == b'{"Action":"die","id":"c1"}\n'
        stream.shutdown()   # the server keeps the connection open: our end, not a failure
        assert list(lines) == []
        stream.close()


@pytest.mark.parametrize("host, expected", [
    (None, ("unix", "/var/run/docker.sock", None)),
    ("unix://", ("unix", "/var/run/docker.sock", None)),
    ("unix:///run/x.sock", ("unix", "/run/x.sock", None)),
    ("unix://run/x.sock", ("unix", "run//x.sock", None)),        # docker-py's legacy form
    ("tcp://10.210.0.2:2375", ("tcp", ("10.210.0.2", 2375), None)),
    ("10.0.0.1:2375", ("tcp", ("10.0.0.1", 2375), None)),
    ("http://h:80", ("tcp", ("h", 80), None)),
    ("https://h:443", ("tcp", ("h", 443), {"dir": None, "verify": True})),
    ("ssh://me@host", None),
])
def test_docker_host_as_docker_py_reads_it(host, expected):
    assert http.parse_host({"DOCKER_HOST": host} if host else {}) == expected


def test_tls_variables_as_docker_py_reads_them():
    env = {"DOCKER_HOST": "tcp://h:2376"}
    assert http.parse_host({**env, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/c"})[2] == \
        {"dir": "/c", "verify": True}
    assert http.parse_host({**env, "DOCKER_TLS_VERIFY": "0"})[2]["verify"] is True   # any value
    assert http.parse_host({**env, "DOCKER_TLS_VERIFY": "", "DOCKER_CERT_PATH": "/c"})[2] == \
        {"dir": "/c", "verify": False}
    assert http.parse_host({**env, "DOCKER_CERT_PATH": ""})[2] is None
    with pytest.raises(ValueError, match="port is required"):
        http.parse_host({"DOCKER_HOST": "tcp://h"})


def test_x_registry_auth_is_docker_pys_header():
    docker_auth = pytest.importorskip("docker.auth")
    from pipeline.api import auth

    config = {"username": "u", "password": "p/w+é?", "serveraddress": "127.0.0.1:5000"}
    assert auth.encode_header(config) == docker_auth.encode_header(config).decode("ascii")


def test_a_docker_py_client_is_adapted_to_the_same_calls(tmp_path):
    docker = pytest.importorskip("docker")
    routes = {("GET", "/v1.41/services/web"): lambda seen: Reply(body={"ID": "s1"}),
              ("POST", "/v1.41/services/s1/update"): lambda seen: Reply(body={"Warnings": ["w"]}),
              ("GET", "/v1.41/services/gone"): _status(404, "service gone not found")}
    with Server(tmp_path, routes) as server:
        api = docker.APIClient(base_url=server.host, version="1.41")
        assert engine.inspect_service(api, "web") == {"ID": "s1"}
        assert engine.inspect_service(api, "gone") is None
        assert engine.update_service(api, "s1", 1, {}) == ["w"]


# Imported by http.client (~30 ms): the stdlib client speaks HTTP itself (pipeline/api/wire.py)
# and imports ssl only for a TLS host
LEAN = ("http.client", "email", "email.parser", "ssl")
NO_SDK = """
import json, sys
from pipeline.cli import main
from pipeline.console import Console
from pipeline.context import Context
directory, host = sys.argv[1:3]
env = {"DOCKER_HOST": host, "SHIPWAY_REGISTRY_USER": "u", "SHIPWAY_REGISTRY_PASSWORD": "p",
       "HOME": directory}
code = main(["status", "--service", "web"], environ=env)
from pipeline import registry
from pipeline.api import engine
from pipeline.stages import deploy, releases, remove, rollback, status, unlock
from pipeline.swarm import lock, releases as history
ctx = Context.from_env(env, Console())
api = ctx.engine()
found = (engine.inspect_service(api, "web"), history.history(api, "web"),
         lock.current(api, "web"))
header = registry.auth_header(registry.auth_config(ctx, "127.0.0.1:5000/app"))
# no credentials in the environment, a per-build DOCKER_CONFIG without config.json
bare = Context.from_env({"DOCKER_HOST": host, "DOCKER_CONFIG": directory}, Console())
assert registry.auth_config(bare, "127.0.0.1:5000/app") is None
print(json.dumps({"code": code, "found": [f is None or f == [] for f in found],
                  "header": bool(header),
                  "loaded": sorted(m for m in ("docker", "requests", "urllib3", *%r)
                                   if m in sys.modules)}))
""" % (LEAN,)


def test_the_swarm_commands_import_neither_docker_py_nor_requests(tmp_path):
    """Nor http.client, email or ssl. (The server runs here: http.server imports them.)"""
    routes = {("GET", "/v1.41/configs"): lambda seen: Reply(body=[]),
              ("GET", "/v1.41/services/web"): lambda seen: Reply(404, {"message": "no service"})}
    with Server(tmp_path, routes) as server:
        out = subprocess.run([sys.executable, "-c", NO_SDK, str(tmp_path), server.host],
                             capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": ROOT}, timeout=60)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == [], out.stderr
    assert result["found"] == [True, True, True] and result["header"], out.stderr
    # no such service: one line naming it, a non-zero exit
    assert result["code"] == 2 and "there is no service web" in out.stderr, out.stderr


def test_the_client_module_imports_neither_http_client_nor_email_nor_ssl():
    code = ("import sys\nimport pipeline.api.http\n"
            f"print(sorted(m for m in {LEAN!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


def _certificates(directory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (cert.pem,
    key.pem, ca.pem in `directory`, as DOCKER_CERT_PATH holds them), made with openssl."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=test-ca")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, extra in (("server", ["-extfile", "san.ext"]), ("client", [])):
        openssl("req", *key, "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", *extra)
    os.rename(directory / "client.pem", directory / "cert.pem")
    os.rename(directory / "client-key.pem", directory / "key.pem")


def test_tls_with_docker_cert_path_verifies_the_engine_and_shows_the_client_certificate(
        tmp_path):
    import shutil
    import ssl

    if not shutil.which("openssl"):
        pytest.skip("no openssl to make certificates with")
    certs = tmp_path / "certs"
    certs.mkdir()
    _certificates(certs)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "server.pem", certs / "server-key.pem")
    context.load_verify_locations(certs / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED          # no client certificate: no answer
    release = threading.Event()

    def stream():
        yield b'{"Type":"container","Action":"die","id":"c1"}\n'
        release.wait(30)

    routes = {("GET", "/v1.41/tasks/t1"): lambda seen: Reply(body={"ID": "t1"}),
              ("GET", "/v1.41/events"): lambda seen: Reply(body=stream)}
    wrap = lambda sock: context.wrap_socket(sock, server_side=True)  # noqa: E731
    with Server(routes=routes, tcp=True, wrap=wrap) as server:
        env = {"DOCKER_HOST": server.host, "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": str(certs)}
        api = engine.open_client(env)
        assert api.base_url.startswith("https://") and api.inspect_task("t1") == {"ID": "t1"}
        assert server.seen[-1].headers["Host"] == server.host.rsplit("/", 1)[1]  # host:port
        # a stream over TLS: shut down from another thread, its reader ends at once
        stream = api.stream("/events")
        lines = stream.lines()
        assert json.loads(next(lines))["id"] == "c1"
        done = threading.Event()
        threading.Thread(target=lambda: (list(lines), done.set()), daemon=True).start()
        stream.shutdown()
        assert done.wait(2)
        stream.close()
        release.set()
        other = tmp_path / "other"
        other.mkdir()
        _certificates(other)                          # another CA: the engine is not trusted
        with pytest.raises(EngineError) as raised:
            engine.open_client({**env, "DOCKER_CERT_PATH": str(other)})
        assert "certificate verify failed" in str(raised.value)
        assert str(raised.value).endswith("(check DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem "
                                          "for this engine) and DOCKER_HOST)")


def test_an_ssh_host_falls_back_to_docker_py_adapted(monkeypatch):
    from pipeline.api import sdk

    class Client:
        api = object()

    monkeypatch.setattr(engine, "connect", lambda environ: Client())
    found = engine.open_client({"DOCKER_HOST": "ssh://me@manager"})
    assert isinstance(found, sdk.SDKEngine) and found.sdk is Client.api


def test_a_login_from_the_docker_config_is_read_as_docker_pys_client_reads_it(tmp_path):
    import base64

    pytest.importorskip("docker")
    from pipeline.api import auth

    secret = base64.b64encode(b"u:p").decode()
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {"127.0.0.1:5000": {"auth": secret}}}))
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert auth.environ_login(env, "127.0.0.1:5000") == {
        "username": "u", "password": "p", "serveraddress": "127.0.0.1:5000"}
    assert auth.environ_login(env, "other:5000") is None
    assert auth.environ_login({"DOCKER_CONFIG": str(tmp_path / "none")}, "127.0.0.1:5000") \
        is None


def test_the_container_exits_follower_asks_as_docker_py_and_close_ends_it_at_once(tmp_path):
    """GET /events as docker-py's events() asks (since, filters as JSON lists), events split
    across chunks, and close() from another thread ending the follow at once."""
    from pipeline.api import events as exits

    release = threading.Event()

    def stream():
        yield b'{"Type":"container","Action":"die","id":"c1"}\n{"Type":"container",'
        yield b'"Action":"die","id":"c2","status":"die"}\n'
        release.wait(30)

    routes = {("GET", "/v1.41/info"): lambda seen: Reply(body={"Swarm": {"NodeID": "n1"}}),
              ("GET", "/v1.41/events"): lambda seen: Reply(body=stream)}
    with Server(tmp_path, routes) as server:
        seen, both = [], threading.Event()

        def on_exit(container):
            seen.append(container)
            if len(seen) == 2:
                both.set()
        started = time.time()
        follower = exits.ContainerExits(client(server), "s1", started, on_exit).start()
        assert both.wait(5) and seen == ["c1", "c2"] and follower.node_id == "n1"
        filters = {"type": ["container"], "event": ["die"],
                   "label": ["com.docker.swarm.service.id=s1"]}
        assert server.seen[-1].target == "/v1.41/events?" + urllib.parse.urlencode(
            {"since": int(started) - 5, "filters": json.dumps(filters)})
        follower.close()
        follower._thread.join(2)
        assert not follower._thread.is_alive() and not follower.alive
        release.set()
