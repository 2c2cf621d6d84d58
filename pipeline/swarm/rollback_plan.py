"""The plans of `shipway rollback` and `shipway remove`: pure functions of the service as read
and its release history, giving the typed writes (pipeline/swarm/writes.py) that
pipeline/swarm/execute.py carries out and what to wait for after them.

A rollback is a plan whose target is a spec: a recorded release's, swarm's PreviousSpec from
before shipway's first deploy (recorded as release #0 once it runs), or, for a service with no
history, swarm's own `rollback=previous`. Once it ran healthy, the record of the release it
left says so: when, by whom, why, to which release (the plan's `after`).
"""
import copy
from dataclasses import dataclass, field
from typing import Optional

from pipeline.errors import NothingToRollBack, UsageError
from pipeline.swarm import jobrun
from pipeline.swarm import plan as planner
from pipeline.swarm import releases as history
from pipeline.swarm import spec as specs
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.writes import (
    LabelRelease,
    RemoveObjects,
    RemoveRecords,
    RemoveService,
    UpdateService,
)


@dataclass(frozen=True)
class Note:
    """Who asked for a rollback, why, and when (a recorded time): what the record of the
    release it leaves gets."""

    at: str
    by: str = ""
    reason: str = ""


@dataclass
class RollbackPlan:
    """What a rollback writes and waits for. action: "rollback", or "unchanged" (the target
    runs already: no write, a wait for its tasks)."""

    action: str
    image: str                    # the image it goes back to
    previous_image: str           # the image it runs now
    writes: list = field(default_factory=list)
    expect: Optional[Expectation] = None
    lines: list = field(default_factory=list)     # what a dry run prints
    target: object = None         # the Release restored, when it is a recorded one
    record_seq: Optional[int] = None   # record what runs afterwards as this release (#0)
    source: object = None         # the recorded Release it leaves (None: what runs has none)
    note: str = ""                # said before anything is written (also on a dry run)
    after: list = field(default_factory=list)   # writes made once it ran healthy


def _started(service):
    return (service.get("UpdateStatus") or {}).get("StartedAt")


def plan_rollback(name, current, releases, to, labels, note=None):
    """The rollback of service `name` (`current`: as the Engine returns it, or None) to the
    release before the running one, or to release `to` (None: the one before). `labels`: the
    shipway labels a restored spec from before shipway gets (spec.deploy_labels). `note`: a
    Note for the record of the release it leaves (None: none).

    Raises UsageError with no service or a job service, NothingToRollBack when there is
    nothing to go to."""
    plan = _plan_rollback(name, current, releases, to, labels)
    if note is not None and plan.action == "rollback" and plan.source is not None:
        to_seq = plan.target.seq if plan.target is not None else plan.record_seq
        by = f" by {note.by}" if note.by else ""
        why = f" ({note.reason})" if note.reason else ""
        plan.after = [LabelRelease(plan.source, history.rolled_back_labels(
            note.at, note.by, note.reason, f"#{to_seq}"),
            done=f"release #{plan.source.seq} recorded as rolled back{by}{why}")]
    return plan


def _plan_rollback(name, current, releases, to, labels):
    if current is None:
        raise UsageError(f"there is no service {name}", hint="check --service and DOCKER_HOST")
    refuse_job(name, current)
    if not releases:
        if to:
            raise NothingToRollBack(f"service {name} has no recorded releases to pick {to!r} "
                                    "from; nothing was changed")
        return _swarm_previous(name, current)
    from_image = specs.image_of(current["Spec"])
    running = history.running_release(releases, current["Spec"])
    target = history.choose(releases, running, to, specs.digest_of(from_image))
    if target is None and not to:
        before = history.before_shipway(current, releases, running)
        if before is not None:
            return _before_shipway(name, current, before, running, labels)
    if target is None:
        what = f"#{running.seq}{_build(running)}" if running else "what it runs"
        raise NothingToRollBack(f"service {name} has no release older than {what} with another "
                                "image to roll back to; nothing was changed")
    if running is not None and target.id == running.id:
        return RollbackPlan("unchanged", target.image, from_image,
                            expect=Expectation(target.image, Follow.TASKS), target=target,
                            note=f"service {name} already runs release #{target.seq}")
    made = ", ".join(part for part in (target.build_number and f"build {target.build_number}",
                                         target.created) if part)
    # The release's whole spec, as it was applied: not only its image.
    write = UpdateService(current["ID"], current["Version"]["Index"], target.spec,
                          doing=f"rolling back service {name} to release #{target.seq}"
                                f"{f' ({made})' if made else ''}: {from_image} -> "
                                f"{target.image}")
    line = (f"roll back service {name} to release #{target.seq}{_build(target)}: "
            f"{from_image} -> {target.image}")
    return RollbackPlan("rollback", target.image, from_image, [write],
                        Expectation(target.image, Follow.UPDATE, _started(current)), [line],
                        target, source=running)


def _build(release):
    """' (build 42)', or nothing when the release has no build number (not '(build -)')."""
    return f" (build {release.build_number})" if release.build_number else ""


def refuse_job(name, current):
    """UsageError when `current` is a job service: a job is not rolled back.

    Rolling a job back would run an older release's job again: an older migration does not
    undo what a newer one did to a schema, and swarm keeps no rollback for a job either (the
    engine refuses a job an update or rollback policy; `docker service rollback` would only
    run the previous spec's job again). Which release runs again is for a deploy of it to
    say, on purpose."""
    if current is not None and jobrun.is_job(current["Spec"]):
        raise UsageError(f"service {name} is a {planner.mode_of(current['Spec'])} service: a "
                         "job is not rolled back: deploy the release you want to run again",
                         hint=f"`shipway releases --service {name}` lists them; deploy one "
                              "with --image REF")


def _before_shipway(name, current, before, running, labels):
    """Swarm's PreviousSpec, the spec from before shipway, with shipway's labels (so the next
    rollback knows it runs release #0 and goes no further), recorded once it runs."""
    spec, what = before
    from_image, to_image = specs.image_of(current["Spec"]), specs.image_of(spec)
    restored = copy.deepcopy(spec)
    for path, value in planner.label_fields(labels).items():
        if value is None:
            planner.delete(restored, path)
        else:
            planner.put(restored, path, value)
    write = UpdateService(current["ID"], current["Version"]["Index"], restored,
                          doing=f"rolling back service {name} to {what}: "
                                f"{from_image} -> {to_image}")
    return RollbackPlan("rollback", to_image, from_image, [write],
                        Expectation(to_image, Follow.UPDATE, _started(current)),
                        [f"roll back service {name} to {what}: {from_image} -> {to_image}"],
                        record_seq=max(0, running.seq - 1), source=running)


def _swarm_previous(name, current):
    """Swarm's PreviousSpec through `rollback=previous` (services with no shipway history)."""
    previous = current.get("PreviousSpec")
    if not previous:
        raise NothingToRollBack(f"service {name} has no previous spec to roll back to; "
                                "nothing was changed")
    from_image, to_image = specs.image_of(current["Spec"]), specs.image_of(previous)
    write = UpdateService(current["ID"], current["Version"]["Index"], current["Spec"],
                          rollback=True,
                          doing=f"rolling back service {name} to swarm's previous spec: "
                                f"{from_image} -> {to_image}")
    return RollbackPlan("rollback", to_image, from_image, [write],
                        Expectation(to_image, Follow.ROLLBACK, _started(current)),
                        [f"roll back service {name}: {from_image} -> {to_image}"])


def plan_remove(name, current, releases, owned, settle=30.0):
    """(the writes, the dry run's lines) of `shipway remove`: the service, its release
    records, the secrets and configs shipway made for it (`owned`: [(kind, name)]).
    UsageError when there is none of them."""
    if current is None and not releases and not owned:
        raise UsageError(f"there is no service {name} and no release history for it",
                         hint="check --service and DOCKER_HOST")
    lines = ([f"remove service {name}"] if current else []) + \
        [f"remove release #{r.seq} record ({r.image})" for r in releases] + \
        [f"remove {kind} {obj}" for kind, obj in owned]
    writes = [RemoveService(current["ID"], done=f"service {name} removed")] if current else []
    writes.append(RemoveRecords(name, len(releases),
                                done=f"{len(releases)} release records removed"))
    if owned:
        writes.append(RemoveObjects(name, settle))
    return writes, lines
