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


def test_rollback_to_a_group_release_by_its_number():
    target, undos = group_plan.plan_rollback(SHOP, group_releases(),
                                             readings(worker=3, api=3, web=3), to=1)
    assert target.seq == 1
    assert [(u.member, u.to) for u in undos if u.action == "rollback"] == [
        ("web", 1), ("api", 1), ("worker", 1)]
    # forward too: any recorded group release, as `rollback --to` for a service
    target, undos = group_plan.plan_rollback(SHOP, group_releases(),
                                             readings(worker=1, api=1, web=1), to=3)
    assert target.seq == 3 and {u.to for u in undos if u.action == "rollback"} == {3}


def test_rollback_to_a_group_release_not_recorded_changes_nothing():
    with pytest.raises(NothingToRollBack, match=r"no group release #7 is recorded "
                       r"\(recorded: #3, #2, #1\)"):
        group_plan.plan_rollback(SHOP, group_releases(), readings(worker=3, api=3, web=3), to=7)


def test_the_pickers_entries_for_a_group():
    """`releases --group --json`: the running one, the default (where `rollback --group`
    goes without --to) and each one's line, newest first."""
    recorded = group_releases()
    second = recorded[1]
    second.build_number, second.commit, second.deployed_by = "42", "abc1234def", "al"
    recorded[1].created = "2026-12-06T07:00:00Z"
    now = group_plan.picker.parse_time("2026-12-06T09:00:00Z")
    entries = group_plan.entries(SHOP, recorded, readings(worker=3, api=3, web=3), now)
    assert [(e["seq"], e["running"], e["default"]) for e in entries] == [
        (3, True, False), (2, False, True), (1, False, False)]
    assert entries[1]["choice"] == ("#2  build 42  abc1234  2 h ago  by al  "
                                    "migrate #2, worker #2, api #2, web #2")
    assert entries[0]["choice"].startswith("#3  running  migrate #3")
    assert entries[1]["members"]["api"]["release_id"] == "api-2"
    # nothing older than the running one: no default
    oldest = group_plan.entries(SHOP, recorded, readings(worker=1, api=1, web=1), now)
    assert not any(e["default"] for e in oldest)
