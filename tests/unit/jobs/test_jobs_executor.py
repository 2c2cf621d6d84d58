"""The executor: folders before children, deletes children first, failures contained."""
import threading
import time

import pytest

from pipeline.jobs import plan, sync
from pipeline.jobs.failures import Failure, RequestFailed


class FakeClient:
    """Records calls with their start/end order; fails the paths it is told to."""

    def __init__(self, fail=None, delay=0.0):
        self.fail = fail or {}
        self.delay = delay
        self.lock = threading.Lock()
        self.started, self.finished = [], []
        self.active = self.peak = 0

    def _do(self, op, path):
        with self.lock:
            self.started.append((op, path))
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
            self.finished.append((op, path))
        if path in self.fail:
            raise RequestFailed(self.fail[path])

    def create(self, path, xml):
        self._do("create", path)

    def reconfigure(self, path, xml):
        self._do("update", path)

    def delete(self, path):
        self._do("delete", path)


def act(op, path, kind="pipeline"):
    desired = None if op in (plan.DELETE, plan.ORPHAN) else "<x/>"
    return plan.Action(op, path, kind, desired=desired)


TREE = [act(plan.CREATE, "a", "folder"), act(plan.CREATE, "a/b", "folder"),
        act(plan.UNCHANGED, "c", "folder"),
        act(plan.CREATE, "a/j1"), act(plan.CREATE, "a/b/j2"), act(plan.UPDATE, "a/b/j3"),
        act(plan.CREATE, "c/j4"), act(plan.UPDATE, "j5")]


def finished_before(client, first, second):
    order = [path for _, path in client.finished]
    start = [path for _, path in client.started]
    return order.index(first) < start.index(second)


def test_folders_are_done_before_their_children():
    client = FakeClient(delay=0.01)
    outcomes = sync.execute(client, TREE, workers=4)
    assert all(o.ok for o in outcomes)
    assert len(outcomes) == len(TREE)
    assert finished_before(client, "a", "a/b")
    assert finished_before(client, "a", "a/j1")
    assert finished_before(client, "a/b", "a/b/j2")
    assert finished_before(client, "a/b", "a/b/j3")
    assert ("create", "c") not in client.started  # unchanged: no request
    assert client.peak > 1  # independent items did run in parallel


def test_one_worker_runs_one_at_a_time():
    client = FakeClient()
    sync.execute(client, TREE, workers=1)
    assert client.peak == 1


def test_a_failed_folder_skips_its_children_only():
    client = FakeClient(fail={"a/b": Failure("server", "Jenkins answered 500 to create a/b",
                                             500, True)})
    outcomes = {o.action.path: o for o in sync.execute(client, TREE, workers=2)}
    assert not outcomes["a/b"].ok
    assert outcomes["a/b"].message == "Jenkins answered 500 to create a/b"
    for child in ("a/b/j2", "a/b/j3"):
        assert not outcomes[child].ok
        assert outcomes[child].message == "skipped: folder a/b was not provisioned"
        assert ("create", child) not in client.started and ("update", child) not in client.started
    assert all(outcomes[p].ok for p in ("a", "a/j1", "c", "c/j4", "j5"))


def test_a_planned_failure_skips_children_without_requests():
    actions = [plan.Action(plan.FAIL, "a", "folder", desired="<x/>", reason="is a job"),
               act(plan.CREATE, "a/j")]
    client = FakeClient()
    outcomes = sync.execute(client, actions)
    assert [(o.action.path, o.ok) for o in outcomes] == [("a", False), ("a/j", False)]
    assert client.started == []


def test_a_global_failure_stops_new_work():
    actions = [act(plan.CREATE, f"j{i}") for i in range(6)]
    client = FakeClient(fail={"j0": Failure("auth", "Jenkins refused the credentials", 401)})
    outcomes = sync.execute(client, actions, workers=1)
    assert len(client.started) == 1
    assert [o.ok for o in outcomes] == [False] * 6
    assert outcomes[3].message == "not attempted after: Jenkins refused the credentials"


def test_deletes_go_children_first_and_a_failed_child_keeps_its_folder():
    actions = [act(plan.DELETE, "g/s/x"), act(plan.DELETE, "g/s/y"), act(plan.DELETE, "g/s"),
               act(plan.DELETE, "g"), act(plan.DELETE, "h/z"), act(plan.DELETE, "h")]
    client = FakeClient(fail={"h/z": Failure("forbidden", "denied", 403)})
    outcomes = {o.action.path: o for o in sync.execute(client, actions, workers=3)}
    assert finished_before(client, "g/s/x", "g/s")
    assert finished_before(client, "g/s/y", "g/s")
    assert finished_before(client, "g/s", "g")
    assert outcomes["g"].ok
    assert not outcomes["h"].ok
    assert outcomes["h"].message == "not pruned: h/z inside it could not be deleted"
    assert ("delete", "h") not in client.started


def test_orphans_are_not_executed_or_counted():
    outcomes = sync.execute(FakeClient(), [act(plan.ORPHAN, "old")])
    assert outcomes == []


def test_report_is_called_once_per_outcome_in_the_calling_thread():
    seen = []
    caller = threading.current_thread()
    sync.execute(FakeClient(), TREE, workers=4,
                 report=lambda o: seen.append((o.action.path, threading.current_thread())))
    assert sorted(p for p, _ in seen) == sorted(a.path for a in TREE)
    assert all(thread is caller for _, thread in seen)


def test_leftover_that_could_not_be_read_counts_as_failed():
    outcomes = sync.execute(FakeClient(), [plan.Action(plan.FAIL, "x", "job", reason="boom")])
    assert [(o.ok, o.message) for o in outcomes] == [(False, "boom")]


@pytest.mark.parametrize("workers", [1, 4, 16])
def test_every_action_ends_once(workers):
    actions = [act(plan.CREATE, "f", "folder")] + [act(plan.CREATE, f"f/j{i}")
                                                    for i in range(30)]
    client = FakeClient()
    outcomes = sync.execute(client, actions, workers=workers)
    assert len(outcomes) == 31 and all(o.ok for o in outcomes)
    assert len(client.started) == 31
