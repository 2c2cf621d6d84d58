"""Carry out a group release: steps in order, a wave's members in parallel, each step gated
on the one before (every member healthy on its new release); a failing step stops the group
and, with `on_failure: rollback`, puts every member it changed back (group_plan.undo),
newest first. What a member's deploy, rollback and removal are is the caller's (bound to its
engine and settings); the decisions are group_plan's.
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from pipeline.api import engine
from pipeline.errors import ShipwayError
from pipeline.swarm import group_plan
from pipeline.swarm import releases as history
from pipeline.swarm.spec import image_of


@dataclass(frozen=True)
class MemberActions:
    """A member's deploy (member -> apply.Result), rollback ((member, seq) -> apply.Result)
    and removal (member -> None), bound by the stage to the member's settings and engine."""

    deploy: Callable
    rollback: Callable
    remove: Callable


@dataclass
class GroupOutcome:
    """How a group release (or its rollback) ended."""

    ok: bool
    results: dict = field(default_factory=dict)      # member -> apply.Result or error text
    failed: Optional[str] = None                      # the member that failed
    error: str = ""                                   # its one line
    step: Optional[int] = None                        # the index of the failing step
    undone: list = field(default_factory=list)        # (Undo, "ok" | error text)
    now: dict = field(default_factory=dict)           # member -> MemberReading after


def read(api, members, jobs=()):
    """{member: group_plan.MemberReading} of `members` (member -> swarm service name)."""
    readings = {}
    for member, name in members.items():
        service = engine.inspect_service(api, name)
        running = None
        if service is not None:
            running = history.running_release(history.history(api, name), service["Spec"])
        readings[member] = group_plan.MemberReading(
            member=member, service=name, exists=service is not None,
            running_seq=running.seq if running else None,
            running_id=running.id if running else "",
            image=image_of(service["Spec"]) if service else "", job=member in jobs)
    return readings


def _run_wave(step, deploy, report):
    """Deploy a wave's members in parallel: member -> Result, or the error's one line."""
    def one(member):
        try:
            return deploy(member)
        except ShipwayError as exc:
            return exc.message
    if len(step.services) == 1:
        return {step.services[0]: one(step.services[0])}
    report(f"wave: {', '.join(step.services)} in parallel")
    with ThreadPoolExecutor(max_workers=len(step.services)) as pool:
        return dict(zip(step.services, pool.map(one, step.services)))


def _failure(result):
    """The one line of a member that did not end healthy, or None."""
    if isinstance(result, str):
        return result
    if result.outcome is None or not result.outcome.ok:
        return result.failure_message() if result.outcome is not None else "failed"
    return None


def release(group, readings, actions, report):
    """Run `group`'s steps in order with `actions`; the GroupOutcome (`now` filled by the
    caller, which reads the members again)."""
    outcome, changed = GroupOutcome(ok=True), []
    for index, step in enumerate(group.steps):
        report(f"group {group.name}: {step.label(index)}")
        results = _run_wave(step, actions.deploy, report)
        outcome.results.update(results)
        changed += [m for m in step.services
                    if isinstance(results[m], str) or results[m].action != "unchanged"]
        failed = [(m, _failure(r)) for m, r in results.items() if _failure(r)]
        if failed:
            outcome.ok, outcome.step = False, index
            outcome.failed, outcome.error = failed[0]
            report(f"group {group.name}: {step.label(index)} failed: {failed[0][1]}")
            if group.on_failure == "rollback":
                outcome.undone = undo(group_plan.undo(changed, readings), actions, report)
            else:
                report(f"group {group.name}: on_failure: stop; what converged is left as it is")
            return outcome
    return outcome


def undo(undos, actions, report):
    """Carry out `undos` in order (each waited for); [(Undo, "ok" or the error)]."""
    done = []
    for item in undos:
        report(f"undo {item.line()}")
        try:
            if item.action == "rollback":
                result = actions.rollback(item.member, item.to)
                error = _failure(result)
            elif item.action == "remove":
                actions.remove(item.member)
                error = None
            else:
                error = None
        except ShipwayError as exc:
            error = exc.message
        done.append((item, error or "ok"))
    return done


def now_line(readings):
    """`migrate: #3 repo@sha256:...; api: #7 ...`: what every member runs."""
    return "; ".join(f"{m}: {r.describe()}" for m, r in readings.items())
