"""bench/group.py's pure parts (bench/_group.py): the three contestants release the same
services in the same order, and what a run left running, how its steps overlapped and the
summary are read right from recorded values."""
import importlib.util
import os

import pytest

from pipeline import catalog

_SPEC = importlib.util.spec_from_file_location("_group", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
    "bench", "_group.py"))
shape = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(shape)

HELLO = "127.0.0.1:5000/bench/x:r1@sha256:" + "1" * 64
HELLO2 = "127.0.0.1:5000/bench/x:r2@sha256:" + "2" * 64
BROKEN = "127.0.0.1:5000/bench/x:broken@sha256:" + "3" * 64
JOB = "127.0.0.1:5000/bench/x-job:j0@sha256:" + "4" * 64


@pytest.fixture
def loaded(tmp_path):
    """The bench's catalog with a group over the bench's stack file added, as shipway reads
    them."""
    (tmp_path / "stack.yml").write_text(shape.stack_text(shape.release(HELLO, JOB), "proxy"))
    text = shape.catalog_text("p", "127.0.0.1:5000/bench/x", "127.0.0.1:5000/bench/x-job",
                              "proxy")
    (tmp_path / "c.yml").write_text(text + "  p-s:\n    compose: {file: stack.yml, stack: p-s}\n")
    return catalog.load(str(tmp_path / "c.yml"))


def test_the_group_and_the_stack_file_have_the_same_steps(loaded):
    names = shape.names("p")
    group = loaded.group(names["group_name"])
    assert [step.services for step in group.steps] == [
        tuple(names["group"][m] for m in step) for step in shape.STEPS]
    # the stack file's depends_on, read as shipway orders a stack file's group
    assert [step.services for step in loaded.group("p-s").steps] == list(shape.STEPS)
    assert group.steps[0].job and group.on_failure == "rollback"


def test_every_contestant_deploys_the_same_services(loaded):
    names = shape.names("p")
    stack = loaded.members("p-s")
    for member in shape.MEMBERS:
        group = loaded.services[names["group"][member]]["service"]
        assert loaded.services[names["sequential"][member]]["service"] == group
        assert stack[member]["service"] == group
        assert stack[member]["name"] == names["stack"][member]
    assert loaded.services[names["group"]["migrate"]]["service"]["deploy"]["mode"] == \
        "replicated-job"
    assert loaded.services[names["group"]["web"]]["service"]["deploy"]["replicas"] == 2


def test_the_failing_release_breaks_only_the_last_waves_member():
    bad = shape.release(HELLO2, JOB, broken=BROKEN)
    assert bad == {"migrate": JOB, "worker": HELLO2, "api": HELLO2, "web": HELLO2,
                   "admin": BROKEN}
    assert shape.BROKEN in shape.STEPS[-1]


def test_what_a_member_runs():
    old, new = shape.release(HELLO, JOB), shape.release(HELLO2, JOB, broken=BROKEN)
    running = {"worker": ["2" * 64, "2" * 64], "api": ["1" * 64], "web": [],
               "admin": ["1" * 64, "3" * 64]}
    assert shape.states({m: [f"sha256:{d}" for d in ds] for m, ds in running.items()},
                        old, new) == {"worker": "new", "api": "old", "web": "none",
                                      "admin": "mixed"}


def test_step_gaps_say_whether_a_step_waited_for_the_one_before():
    ordered = {"migrate": {"start": 0.3, "done": 2.9}, "worker": {"start": 3.2, "done": 7.0},
               "api": {"start": 3.3, "done": 7.4}, "web": {"start": 9.6, "done": 13.0},
               "admin": {"start": 9.5, "done": 13.1}}
    assert shape.step_gaps(ordered) == [0.3, 2.1]
    at_once = {m: {"start": 0.2, "done": 6.0} for m in shape.MEMBERS}
    at_once["migrate"] = {"start": 0.2, "done": 2.8}
    assert shape.step_gaps(at_once) == [-2.6, -5.8]
    assert shape.step_gaps({"migrate": {"start": 0.1, "done": None}}) == [None, None]


def test_summary_medians_and_per_round_ratios():
    runs = {"group": [{"seconds": 20.0}, {"seconds": 22.0}, {"seconds": 30.0}],
            "stack": [{"seconds": 10.0}, {"seconds": 10.0}, {"seconds": 12.0}],
            "sequential": [{"seconds": 40.0}, {"seconds": 44.0}, {"seconds": None}]}
    out = shape.summary(runs)
    assert out["group"] == {"median_s": 22.0, "runs_s": [20.0, 22.0, 30.0], "disturbed": 0}
    assert out["group_vs_stack"] == {"median_ratio": 2.2, "ratio_of_medians": 2.2}
    assert out["group_vs_sequential"]["median_ratio"] == 0.5   # the round without a time out
    assert out["sequential"]["runs_s"] == [40.0, 44.0, None]


def test_a_disturbed_run_counts_for_nothing():
    runs = {"group": [{"seconds": 20.0}, {"seconds": 90.0, "disturbed": "exit [1]"}],
            "stack": [{"seconds": 10.0}, {"seconds": 11.0}]}
    out = shape.summary(runs)
    assert out["group"] == {"median_s": 20.0, "runs_s": [20.0, None], "disturbed": 1}
    assert out["group_vs_stack"]["median_ratio"] == 2.0


def test_which_runs_did_not_go_as_designed():
    new = {m: "new" for m in ("worker", "api", "web", "admin")}
    assert shape.disturbed("update", "stack", [0], new) is None
    assert shape.disturbed("update", "sequential", [0, 0, 1], new) == f"exit [0, 0, 1], left {new}"
    assert shape.disturbed("update", "group", [0], {**new, "api": "old"})
    left = {**new, "admin": "old"}
    assert shape.disturbed("failure", "stack", [0], left) is None
    assert shape.disturbed("failure", "sequential", [0, 0, 0, 0, 1], left) is None
    assert shape.disturbed("failure", "sequential", [0, 0, 1], left) == "exit [0, 0, 1]"
    # swarm rolled back another member too (a task the engine could not start)
    assert "by design" in shape.disturbed("failure", "stack", [0], {**left, "api": "old"})
    back = {m: "old" for m in new}
    assert shape.disturbed("failure", "group", [1], back) is None
    assert shape.disturbed("failure", "group", [1], left).startswith("left ")


def test_the_next_release_flips_every_member():
    current = {"migrate": JOB, "worker": HELLO, "api": HELLO2, "web": HELLO, "admin": HELLO}
    assert shape.flipped(current, HELLO, HELLO2) == {
        "worker": HELLO2, "api": HELLO, "web": HELLO2, "admin": HELLO2}


def test_the_order_rotates_every_round():
    assert [shape.order(i)[0] for i in range(4)] == ["group", "stack", "sequential", "group"]
    assert all(sorted(shape.order(i)) == sorted(shape.CONTESTANTS) for i in range(3))


def _spec(env=("LINES=3",), monitor=2_000_000_000):
    return {"Name": "x", "Labels": {"a": "b"}, "Mode": {"Replicated": {"Replicas": 2}},
            "UpdateConfig": {"Parallelism": 1, "Monitor": monitor},
            "TaskTemplate": {"ContainerSpec": {"Image": "i", "Env": list(env)},
                             "Networks": [{"Target": "n1", "Aliases": ["web"]}]}}


def test_spec_differences_name_the_field_and_each_contestants_value():
    same = {c: {m: _spec() for m in shape.MEMBERS} for c in shape.CONTESTANTS}
    assert shape.differences(same) == {}
    same["stack"]["web"] = _spec(monitor=5_000_000_000)
    assert shape.differences(same) == {"web": {"UpdateConfig": {
        "group": {"Parallelism": 1, "Monitor": 2_000_000_000},
        "stack": {"Parallelism": 1, "Monitor": 5_000_000_000},
        "sequential": {"Parallelism": 1, "Monitor": 2_000_000_000}}}}
