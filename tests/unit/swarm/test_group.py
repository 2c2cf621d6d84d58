"""A group release's decisions (group_plan) and its order of work (group.release)."""
from types import SimpleNamespace

import pytest

from pipeline.catalog.groups import Group, Step
from pipeline.errors import DeployError, NothingToRollBack
from pipeline.swarm import group, group_plan
from pipeline.swarm.group_plan import MemberReading
from pipeline.swarm.group_releases import GroupRelease

SHOP = Group("shop", (Step(("migrate",), job=True), Step(("worker", "api")), Step(("web",))))


def readings(**running):
    """member -> MemberReading; running: member -> seq (None: no service)."""
    out = {}
    for member in ("migrate", "worker", "api", "web"):
        seq = running.get(member, 1)
        out[member] = MemberReading(member, f"shop-{member}", exists=seq is not None,
                                    running_seq=seq, running_id=f"{member}-{seq}",
                                    image=f"r/{member}:v{seq}", job=member == "migrate")
    return out


class Result(SimpleNamespace):
    def failure_message(self):
        return f"update of {self.service} failed: {self.reason}"


def ok(member, action="updated"):
    return Result(service=member, action=action, outcome=SimpleNamespace(ok=True))


def bad(member):
    return Result(service=member, action="updated", reason="task exited 1",
                  outcome=SimpleNamespace(ok=False))


def actions(fail=(), log=None):
    log = [] if log is None else log

    def deploy(member):
        log.append(("deploy", member))
        if member == "api" and "api-error" in fail:
            raise DeployError("engine refused api")
        return bad(member) if member in fail else ok(member, "unchanged"
                                                         if member == "worker" else "updated")
    return group.MemberActions(
        deploy=deploy,
        rollback=lambda member, seq: log.append(("rollback", member, seq)) or ok(member),
        remove=lambda member: log.append(("remove", member))), log


def test_every_step_in_order_when_each_passes():
    acts, log = actions()
    outcome = group.release(SHOP, readings(), acts, lambda line: None)
    assert outcome.ok and outcome.failed is None
    assert log[0] == ("deploy", "migrate") and log[-1] == ("deploy", "web")
    assert {e[1] for e in log[1:3]} == {"worker", "api"}


def test_a_failing_wave_stops_the_group_and_undoes_newest_first():
    acts, log = actions(fail=("api",))
    outcome = group.release(SHOP, readings(api=4, web=2), acts, lambda line: None)
    assert not outcome.ok and outcome.failed == "api" and outcome.step == 1
    assert "task exited 1" in outcome.error
    assert ("deploy", "web") not in log                        # the later step never ran
    # worker was unchanged: not undone; api back to #4; the job's run is not undone
    assert [e for e in log if e[0] != "deploy"] == [("rollback", "api", 4)]
    assert [(u.member, u.action) for u, _ in outcome.undone] == [("api", "rollback"),
                                                                 ("migrate", "keep")]


def test_an_engine_error_in_a_wave_is_that_member_failing():
    acts, _ = actions(fail=("api-error",))
    outcome = group.release(SHOP, readings(), acts, lambda line: None)
    assert outcome.failed == "api" and outcome.error == "engine refused api"


def test_on_failure_stop_leaves_what_converged():
    acts, log = actions(fail=("web",))
    stop = Group("shop", SHOP.steps, on_failure="stop")
    outcome = group.release(stop, readings(), acts, lambda line: None)
    assert not outcome.ok and outcome.undone == []
    assert [e for e in log if e[0] != "deploy"] == []


def test_undo_removes_what_the_group_created_and_keeps_unrecorded_specs():
    before = readings(api=None)
    before["web"] = MemberReading("web", "shop-web", exists=True, image="r/web:hand")
    undos = group_plan.undo(["migrate", "api", "web"], before)
    assert [(u.member, u.action) for u in undos] == [("web", "keep"), ("api", "remove"),
                                                     ("migrate", "keep")]
    assert undos[0].why == "it ran a spec no release recorded"


def group_releases():
    def members(seq):
        return {m: {"service": f"shop-{m}", "release_id": f"{m}-{seq}", "seq": seq,
                    "job": m == "migrate"} for m in ("migrate", "worker", "api", "web")}
    return [GroupRelease(seq, "shop", members(seq)) for seq in (3, 2, 1)]


def test_rollback_goes_to_the_group_release_before_the_running_one():
    target, undos = group_plan.plan_rollback(SHOP, group_releases(),
                                             readings(worker=3, api=3, web=3))
    assert target.seq == 2
    assert [(u.member, u.action, u.to) for u in undos] == [
        ("web", "rollback", 2), ("api", "rollback", 2), ("worker", "rollback", 2),
        ("migrate", "keep", None)]
    # pressed again: group release #2 runs now, so #1
    target, _ = group_plan.plan_rollback(SHOP, group_releases(),
                                         readings(worker=2, api=2, web=2))
    assert target.seq == 1


def test_rollback_when_no_group_release_runs_goes_to_the_newest():
    target, undos = group_plan.plan_rollback(SHOP, group_releases(),
                                             readings(worker=3, api=9, web=3))
    assert target.seq == 3
    assert [(u.member, u.action) for u in undos if u.action == "rollback"] == [("api",
                                                                               "rollback")]


def test_rollback_from_the_oldest_changes_nothing():
    with pytest.raises(NothingToRollBack, match="group release #1 runs and none is older"):
        group_plan.plan_rollback(SHOP, group_releases(), readings(worker=1, api=1, web=1))


def test_the_dry_run_lines():
    images = {m: f"r/{m}:v2@sha256:{'a' * 64}" for m in SHOP.members}
    lines = group_plan.plan_lines(SHOP, readings(api=None), images)
    assert lines[0] == "group shop: 3 steps, on failure: rollback"
    assert lines[1] == "step 1 (migrate) (a job: runs to completion)"
    assert any(line.startswith("  api (shop-api): no service -> r/api:v2@") for line in lines)
