"""When an update is settled before swarm says `completed`: the leader clock and the window;
when the old tasks are gone."""
import threading

from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.judge import Memory, Snapshot, Status, judge, needs
from pipeline.swarm.replicas import (
    DEFAULT_MONITOR,
    SETTLE_MARGIN,
    LeaderClock,
    desired_count,
    monitor_seconds,
    replica_slots,
    serving,
    settled_at,
)
from pipeline.swarm.watch import Watcher
from pipeline.units import parse_timestamp
from tests.support.poll import poll_until

T0 = "2026-11-29T15:00:00.000000000Z"
BASE = parse_timestamp(T0)


def stamp(seconds):
    """An engine timestamp `seconds` after T0, with nanoseconds."""
    whole, frac = divmod(round(seconds * 1e9), 10**9)
    return f"2026-11-29T15:{whole // 60:02d}:{whole % 60:02d}.{frac:09d}Z"


def task(created, updated, state="running"):
    return {"CreatedAt": stamp(created), "UpdatedAt": stamp(updated),
            "Status": {"State": state}, "DesiredState": "running"}


def service(started, monitor_ns=3_000_000_000, kind="UpdateConfig"):
    spec = {kind: {"Monitor": monitor_ns}} if monitor_ns is not None else {}
    return {"UpdateStatus": {"StartedAt": stamp(started)}, "Spec": spec,
            "UpdatedAt": stamp(started)}


def test_timestamps_parse_with_nanoseconds():
    assert parse_timestamp(stamp(1.5)) - BASE == 1.5
    assert parse_timestamp("0001-01-01T00:00:00Z") is None
    assert parse_timestamp("") is None


def test_the_clock_never_runs_early():
    clock = LeaderClock()
    # The leader runs 10 s ahead; we read a stamp 0.2 s after it was written.
    clock.observe([{"UpdatedAt": stamp(5)}], BASE + 5 - 10 + 0.2)
    assert abs(clock.local(BASE + 5) - (BASE + 5 - 10 + 0.2)) < 1e-6  # late, never early
    # A fresher reading tightens the estimate; a staler one does not loosen it.
    clock.observe([{"UpdatedAt": stamp(6)}], BASE + 6 - 10 + 0.01)
    clock.observe([{"UpdatedAt": stamp(6)}], BASE + 6 - 10 + 3)
    assert abs(clock.local(BASE + 6) - (BASE + 6 - 10 + 0.01)) < 1e-6


def test_settled_after_the_newest_task_ran_for_the_monitor_period():
    clock = LeaderClock()
    clock.observe([{"UpdatedAt": stamp(8)}], BASE + 8)  # same clock, read at once
    live = [task(1, 4), task(4.5, 8)]
    assert abs(settled_at(clock, service(0.5), live, "update")
               - (BASE + 8 + 3 + SETTLE_MARGIN)) < 1e-6


def test_not_settled_while_a_task_from_before_the_update_runs_or_one_starts():
    clock = LeaderClock()
    clock.observe([{"UpdatedAt": stamp(8)}], BASE + 8)
    assert settled_at(clock, service(2), [task(1, 4), task(4.5, 8)], "update") is None
    assert settled_at(clock, service(0.5), [task(1, 4), task(4.5, 8, "starting")],
                      "update") is None
    assert settled_at(LeaderClock(), service(0.5), [task(1, 4)], "update") is None  # no clock


def test_monitor_period_is_the_configs_or_swarms_default():
    assert monitor_seconds({"UpdateConfig": {"Monitor": 3_000_000_000}}, "update") == 3.0
    assert monitor_seconds({"RollbackConfig": {"Monitor": 2_000_000_000},
                            "UpdateConfig": {"Monitor": 9_000_000_000}}, "rollback") == 2.0
    assert monitor_seconds({"UpdateConfig": {}}, "update") == DEFAULT_MONITOR
    assert monitor_seconds({}, "update") == DEFAULT_MONITOR


def _task(image, state="running", desired="running"):
    return {"DesiredState": desired, "Status": {"State": state},
            "Spec": {"ContainerSpec": {"Image": image}}}


def test_serving_names_what_the_running_tasks_run():
    assert serving([_task("r:v1"), _task("r:v1"), _task("r:v2", "starting")]) == "r:v1"
    assert serving([_task("r:v1"), _task("r:v2"), _task("r:v2"),
                    _task("r:v3", "running", "shutdown")]) == "r:v2 on 2 tasks and r:v1 on 1 task"
    assert serving([_task("r:v2", "failed")]) == "nothing (no task running)"


class _Nodes:
    """Only what Watcher._others_remain asks the engine: the nodes and their state, this
    engine's node id (n1), and its container events (none: the stream ends at once)."""

    def __init__(self, down=()):
        self.down = set(down)

    def nodes(self):
        return [{"ID": n, "Description": {"Hostname": n},
                 "Status": {"State": "down" if n in self.down else "ready"}}
                for n in ("n1", "n2")]

    def info(self):
        return {"Swarm": {"NodeID": "n1"}}

    def events(self, since=None, filters=None, decode=None):
        return _Exits(None)


def _on(node, image, state="running", desired="running"):
    return {**_task(image, state, desired), "NodeID": node}


def _service(replicas):
    return {"ID": "svc", "Spec": {"Mode": {"Replicated": {"Replicas": replicas}},
                                  "TaskTemplate": {"ContainerSpec": {"Image": "r:v2"}}}}


def test_a_release_is_alone_only_once_old_containers_stopped():
    expect = Expectation("r:v2", Follow.TASKS)
    new = [{**_on("n1", "r:v2"), "ID": "a", "Slot": 1},
           {**_on("n1", "r:v2"), "ID": "b", "Slot": 1},
           {**_on("n1", "r:v2"), "ID": "c", "Slot": 2}]
    assert len(replica_slots(new, "r:v2")) == 2          # two tasks of slot 1 count once

    def verdict(tasks, down=None, stopped=frozenset()):
        snap = Snapshot(_service(2), tasks, 0.0, down=down, stopped=stopped)
        return judge(expect, snap, Memory()).status

    assert verdict(new) is Status.CONVERGED
    # start-first: the old container is told to stop but still serves
    old = {**_on("n1", "r:v1", "running", "shutdown"), "ID": "d",
           "Status": {"State": "running", "ContainerStatus": {"ContainerID": "c-old"}}}
    assert needs(expect, _service(2), new + [old], frozenset(), Memory()).old
    assert verdict(new + [old]) is Status.WAITING
    assert verdict(new + [{**_on("n1", "r:v1", "pending"), "ID": "e"}]) is Status.WAITING
    assert verdict(new + [{**_on("n1", "r:v1", "shutdown", "shutdown"), "ID": "f"}]) \
        is Status.CONVERGED
    # its container exited (the engine said so): gone, whatever the store says yet
    assert not needs(expect, _service(2), new + [old], frozenset({"c-old"}), Memory()).old
    assert verdict(new + [old], stopped=frozenset({"c-old"})) is Status.CONVERGED
    # a node swarm sees down reports nothing more: its old task is not waited for
    remote = {**_on("n2", "r:v1", "running", "shutdown"), "ID": "g"}
    assert verdict(new + [remote], down={"n2": "n2"}) is Status.CONVERGED
    assert verdict(new + [remote], down={}) is Status.WAITING


def test_a_bake_begins_once_only_the_release_serves_before_swarm_settles():
    """Expectation.served: every replica on the release and no old container running is
    enough (the bake window begins then); the update's own wait also needs the monitor."""
    started = "2026-12-06T08:00:00Z"
    service = {**_service(2), "UpdateStatus": {"State": "updating", "StartedAt": started}}
    service["Spec"]["UpdateConfig"] = {"Monitor": 60 * 10 ** 9}
    new = [{**_on("n1", "r:v2"), "ID": "a", "Slot": 1, "CreatedAt": started,
            "UpdatedAt": started}, {**_on("n1", "r:v2"), "ID": "c", "Slot": 2,
                                    "CreatedAt": started, "UpdatedAt": started}]
    old = {**_on("n1", "r:v1", "running", "shutdown"), "ID": "d",
           "Status": {"State": "running", "ContainerStatus": {"ContainerID": "c-old"}}}

    def verdict(expect, tasks, stopped=frozenset()):
        snap = Snapshot(service, tasks, 1.7e9, stopped=stopped)
        return judge(expect, snap, Memory()).status

    served = Expectation("r:v2", Follow.UPDATE, "before", served=True)
    assert verdict(served, new + [old]) is Status.WAITING     # the old one still serves
    assert verdict(served, new + [old], frozenset({"c-old"})) is Status.CONVERGED
    assert verdict(Expectation("r:v2", Follow.UPDATE, "before"), new + [old],
                   frozenset({"c-old"})) is Status.WAITING    # swarm's monitor runs on
    rolled = {**service, "UpdateStatus": {"State": "paused", "StartedAt": started}}
    snap = Snapshot(rolled, new, 1.7e9)
    assert judge(served, snap, Memory()).status is Status.FAILED


class _Exits:
    """An Engine events stream (docker.types.CancellableStream's shape: iterated, closed from
    another thread) that gives container c-old's `die` event once the test lets it (`die`
    set), or none (`die` None)."""

    def __init__(self, die):
        self.die, self.closed = die, threading.Event()

    def __iter__(self):
        if self.die is None:
            return
        while not self.die.wait(0.01):
            if self.closed.is_set():
                return
        yield {"Type": "container", "Action": "die", "id": "c-old"}
        self.closed.wait()

    def close(self):
        self.closed.set()


class _Engine(_Nodes):
    """The nodes, and the container events the test lets come."""

    def __init__(self):
        super().__init__()
        self.stop = threading.Event()
        self.asked = []

    def events(self, since=None, filters=None, decode=None):
        assert decode
        self.asked.append(filters)
        self.opened = _Exits(self.stop)
        return self.opened


def test_an_old_container_on_this_engine_counts_as_gone_the_moment_it_exits():
    api = _Engine()
    watcher = Watcher(api, "svc", report=lambda line: None)
    watcher._follow_exits({"ID": "svc"})            # an old task remains: its exit is followed
    assert not watcher._wake.wait(0.2)
    poll_until(lambda: api.asked, 5, "the events stream to open", interval=0.01)
    assert api.asked == [{"type": "container", "event": "die",
                          "label": "com.docker.swarm.service.id=svc"}]
    assert watcher._exits_node() == "n1"       # on this engine: an event will say it exited
    api.stop.set()                                            # the engine says it died
    assert watcher._wake.wait(5)                              # the loop is woken at once
    assert watcher._stopped == {"c-old"}   # the store still says running; the engine not
    watcher._exits.close()
    poll_until(lambda: not watcher._exits.alive, 5, "the closed stream's thread to end",
               interval=0.01)
    assert watcher._exits_node() is None       # the stream ended: old tasks are polled for


def test_desired_count_of_replicated_and_global_services():
    assert desired_count({"Mode": {"Replicated": {"Replicas": 3}}}, []) == 3
    assert desired_count({"Mode": {"Replicated": {}}}, []) == 0
    live = [{"NodeID": "a"}, {"NodeID": "b"}, {"NodeID": "b"}]
    assert desired_count({"Mode": {"Global": {}}}, live) == 2
    assert desired_count({"Mode": {"Global": {}}}, []) == 1   # not converged before any task
