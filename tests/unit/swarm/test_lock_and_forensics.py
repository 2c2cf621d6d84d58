"""The pure parts of the deploy lock, the failure forensics and the truer failure lines:
config names, holders, lease expiry, the health verdict, which change won, redaction, the
console digest, and the messages fixed with them. (No engine.)"""
import io
import os
import signal
import time

import pytest

from pipeline.api import engine
from pipeline.console import Console
from pipeline.context import BuildInfo, redacted, secret_values
from pipeline.errors import NothingToRollBack
from pipeline.swarm import forensics, lock
from pipeline.swarm.failure import health_failed
from pipeline.swarm.releases import Release, choice
from pipeline.swarm.replicas import LeaderClock, others_remain, replaced_by


def test_config_name_fits_swarm_limit_and_stays_distinct():
    assert lock.config_name("hello") == "shipway-lock-hello"
    long_a, long_b = "a" * 63, "a" * 62 + "b"
    assert len(lock.config_name(long_a)) <= lock.NAME_LIMIT
    assert lock.config_name(long_a) != lock.config_name(long_b)


def test_holder_is_the_jenkins_build_else_user_at_host_and_pid():
    build = BuildInfo(job="team/hello", number="12", url="https://ci/job/hello/12/")
    assert lock.holder_of({}, build) == "team/hello #12 https://ci/job/hello/12/"
    mine = lock.holder_of({"USER": "alice"}, BuildInfo())
    assert mine.startswith("alice@") and mine.endswith(f" pid {__import__('os').getpid()}")


def test_lease_from_the_environment():
    assert lock.lease_seconds({}) == lock.DEFAULT_LEASE
    assert lock.lease_seconds({"SHIPWAY_LOCK_LEASE": "3"}) == 3.0
    assert lock.lease_seconds({"SHIPWAY_LOCK_LEASE": "nonsense"}) == lock.DEFAULT_LEASE


def _config(updated_at, version=5, lease="10"):
    return {"ID": "c1", "Version": {"Index": version}, "UpdatedAt": updated_at,
            "Spec": {"Labels": {lock.LEASE: lease, lock.HOLDER: "x", lock.COMMAND: "deploy",
                                lock.TAKEN: "2026-12-01T10:00:00Z"}}}


def _iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int(seconds % 1 * 1e9):09d}Z"


def test_expiry_on_the_leader_clock_never_early():
    now = time.time()
    config = _config(_iso(now - 30))
    clock = LeaderClock()
    clock.observe([{"CreatedAt": _iso(now)}], now)     # the probe: leader now == local now
    assert lock._expired(config, clock, (5, time.monotonic()))
    fresh = _config(_iso(now - 2))
    assert not lock._expired(fresh, clock, (5, time.monotonic()))
    # a leader whose clock runs 100 s behind ours: its stamps look old, but the probe's
    # CreatedAt tells the clock, so a lock renewed 2 s ago is not taken for expired
    behind = LeaderClock()
    behind.observe([{"CreatedAt": _iso(now - 100)}], now)
    assert not lock._expired(_config(_iso(now - 102)), behind, (5, time.monotonic()))


def test_expiry_by_the_version_standing_still_without_any_clock():
    config = _config("")
    clock = LeaderClock()
    assert not lock._expired(config, clock, (5, time.monotonic()))
    assert lock._expired(config, clock, (5, time.monotonic() - 11))
    assert not lock._expired(config, clock, (4, time.monotonic() - 11))  # it moved


def test_describe_and_line():
    info = lock.describe(_config("x"), now=lock.parse_timestamp("2026-12-01T10:00:40Z"))
    assert info["age"] == 40.0
    assert lock.line(info) == "deploy by x since 2026-12-01T10:00:00Z (40s ago)"


def test_a_stopped_container_marked_unhealthy_is_no_health_failure():
    stopped = {"Status": "unhealthy", "FailingStreak": 0, "Log": [{"ExitCode": 0, "Output": "ok"}]}
    failed = {"Status": "unhealthy", "FailingStreak": 2,
              "Log": [{"ExitCode": 1, "Output": "wget: server returned error: 404"}]}
    assert not health_failed(stopped)
    assert health_failed(failed)
    assert not health_failed({"Status": "healthy", "FailingStreak": 0, "Log": []})


def test_replaced_by_says_which_change_won():
    ours = {"Labels": {"shipway.release": "abc", "shipway.image": "r:v3@sha256:" + "1" * 64,
                       "shipway.job": "hello", "shipway.build-number": "9"},
            "TaskTemplate": {"ContainerSpec": {"Image": "r:v3@sha256:" + "1" * 64}}}
    assert replaced_by(ours) == ("it wants r:v3@sha256:111111111111 (shipway release abc, "
                                 "hello build 9)")
    cli = {**ours, "TaskTemplate": {"ContainerSpec": {"Image": "r:v4"}}}
    assert replaced_by(cli) == "it wants r:v4 (a change made outside shipway)"


def test_others_remain_counts_tasks_on_down_nodes_as_gone():
    def task(image, state, desired, node="n1"):
        return {"Spec": {"ContainerSpec": {"Image": image}}, "Status": {"State": state},
                "DesiredState": desired, "NodeID": node}
    new = [task("v2", "running", "running")]
    assert not others_remain(new, "v2")
    assert others_remain(new + [task("v1", "running", "shutdown")], "v2")
    assert not others_remain(new + [task("v1", "running", "shutdown")], "v2", {"n1"})


def test_redaction_and_digest():
    record = redacted({"logs": ["pw=s3cret!", "fine"], "error": "s3cret!"}, ["s3cret!", "ab"])
    assert record == {"logs": ["pw=***", "fine"], "error": "***"}
    lines = forensics.digest([{"task": "t" * 25, "slot": 1, "node": "vm", "state": "failed",
                               "exit_code": 3, "error": "task: non-zero exit (3)",
                               "health": [{"exit": 1, "output": "404"}],
                               "logs": ["a", "", "b"], "logs_from": "container"}])
    assert lines[0] == ("forensics: task 1 tttttttttttt on vm: failed, exit code 3, "
                        "task: non-zero exit (3)")
    assert lines[1] == "forensics:   health probe: exit 1: 404"
    assert lines[2:5] == ["forensics:   last 2 of 3 log lines (container):",
                          "forensics:   | a", "forensics:   | b"]


def test_secret_values_read_the_files_and_the_console_masks_them(tmp_path):
    path = tmp_path / "pw"
    path.write_text("from-a-file\n")
    values = secret_values({"SHIPWAY_REGISTRY_PASSWORD_FILE": str(path),
                            "JENKINS_TOKEN": "tok-1234", "OTHER": "x"})
    assert sorted(values) == ["from-a-file", "tok-1234"]
    out, err = io.StringIO(), io.StringIO()
    console = Console(out=out, err=err)
    console.secrets = tuple(values)
    console.event("env: PW=from-a-file")
    console.json({"log": "tok-1234"})
    console.error("bad tok-1234")
    assert "from-a-file" not in err.getvalue() and "tok-1234" not in err.getvalue() + \
        out.getvalue()
    assert "PW=***" in err.getvalue()


def test_rollback_choices_name_image_and_digest_and_every_refusal_has_a_hint():
    release = Release(7, "id", "hello", "r:v2@sha256:" + "ab" * 32, "sha256:" + "ab" * 32,
                      commit="1a2b3c4d5e", build_number="12")
    assert choice(release) == "#7 r:v2@sha256:abababababab (build 12, commit 1a2b3c4)"
    bare = Release(8, "id", "hello", "r:v3", "")
    assert choice(bare) == "#8 r:v3"
    assert "(see `shipway releases`" in str(NothingToRollBack("no release older than #1"))


def test_repeated_words_of_an_engine_error_are_said_once():
    from pipeline.api.engine import short

    class Error(Exception):
        explanation = "manifest unknown: manifest unknown"
    assert short(Error()) == "manifest unknown"
    Error.explanation = "pull access denied: repository does not exist"
    assert short(Error()) == "pull access denied: repository does not exist"


def test_a_service_log_line_with_details_names_its_task():
    from pipeline.api.logs import parse_line

    line = ("com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,"
            "com.docker.swarm.task.id=t1 hello: fatal: no configuration found")
    assert parse_line(line) == ("t1", "hello: fatal: no configuration found")
    assert parse_line("no attributes here") == (None, "no attributes here")
    assert parse_line("a=b,c=d message") == (None, "a=b,c=d message")


def _task(task_id, slot, state, desired="running", image="r:crash", node="n2"):
    return {"ID": task_id, "Slot": slot, "NodeID": node, "DesiredState": desired,
            "Spec": {"ContainerSpec": {"Image": image}},
            "Status": {"State": state, "Err": "task: non-zero exit (3)",
                       "Timestamp": f"2026-12-01T00:00:0{slot}Z",
                       "ContainerStatus": {"ExitCode": 3}}}


class _NoEngine:
    """No container here and a broker that lost the task: forensics only has the follower."""

    def inspect_container(self, container_id):
        raise AssertionError("no container id was given")


def test_a_slot_without_logs_takes_them_from_the_follower_or_its_next_attempt(monkeypatch):
    from pipeline.api import engine

    monkeypatch.setattr(engine, "task_log_tail", lambda api, task_id, lines: None)
    followed = {"b": ["hello: fatal"]}
    collector = forensics.Collector(_NoEngine(), lambda node: "m2", secrets=["s3cret"])
    collector.collect(_task("a", 1, "failed", "shutdown"))
    assert collector.records()[0]["logs_from"] == "unavailable"
    # the slot's next attempt, not started yet: worth waiting for; one running its health
    # checks (starting) is not, nor a healthy slot
    assert collector.pending([_task("b", 1, "preparing")], "r:crash")
    assert not collector.pending([_task("b", 1, "starting")], "r:crash")
    assert not collector.pending([_task("c", 2, "running")], "r:crash")
    collector.collect(_task("b", 1, "failed", "shutdown"))   # no logs either: a stays
    assert [r["task"] for r in collector.records()] == ["a"]
    collector.followed = followed.get
    followed["a"] = ["pw=s3cret", "hello: fatal"]              # the follower caught up
    [record] = collector.records()
    assert record["logs"] == ["pw=***", "hello: fatal"]
    assert record["logs_from"] == forensics.FOLLOWED
    assert not collector.pending([_task("d", 1, "preparing")], "r:crash")


def test_forensics_keep_at_most_max_slots():
    collector = forensics.Collector(_NoEngine(), lambda node: "m2", secrets=[])
    collector.followed = lambda task_id: ["line"]
    for slot in range(1, forensics.MAX_SLOTS + 3):
        collector.collect(_task(f"t{slot}", slot, "failed", "shutdown"))
    assert len(collector.records()) == forensics.MAX_SLOTS
    assert not collector.pending([_task("x", 99, "preparing")], "r:crash")


def test_a_sigterm_right_after_the_take_still_releases_the_lock(monkeypatch):
    """A Jenkins abort between the config's creation and the block (the renewal thread not
    started yet): the handler is already in place, so the lock is removed, by its id."""
    removed = []
    monkeypatch.setattr(engine, "create_config", lambda api, name, data, labels: "cfg-1")
    monkeypatch.setattr(engine, "remove_config", lambda api, cid: removed.append(cid) or True)
    monkeypatch.setattr(lock.Lock, "start_renewing",
                        lambda self: os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(lock.Terminated, match="the lock was released"):
        with lock.held(None, "svc", holder="h", command="deploy", timeout=1, report=print):
            raise AssertionError("the block must not run")
    assert removed == ["cfg-1"]
    assert signal.getsignal(signal.SIGTERM) is before
