"""`shipway continue`: finish an update an inconclusive analysis paused (on_inconclusive:
pause), or one a deploy left half done when it stopped, as that deploy would have.

What is left is read from the service (plan_resume, pure): a release shipway deployed and
never recorded, with the rest of its update still held (the first write's HELD_LABEL: the
rest is written now, then the bake), or rolled out already (the bake again). Then swarm's
verdict, the release record (with who approved it) and the deploy marker, as for a deploy.
"""
import copy
from dataclasses import dataclass

from pipeline.api import engine
from pipeline.errors import ShipwayError, UsageError
from pipeline.swarm import apply, canary, execute
from pipeline.swarm import releases as history
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.judge import Outcome
from pipeline.swarm.spec import HELD_LABEL, LABEL_PREFIX, image_of
from pipeline.swarm.watch import Watcher

APPROVED_BY = LABEL_PREFIX + "approved-by"


class NothingToContinue(ShipwayError):
    """No paused or half-done deploy to finish; nothing was changed."""

    def __init__(self, message, *, hint=None, **context):
        super().__init__(message, hint=hint or "see `shipway status` for what runs; "
                         "`shipway deploy` starts a new release", **context)


@dataclass(frozen=True)
class ResumePlan:
    """What `continue` does: write the rest (`held`) or not, then judge and record."""

    image: str
    release_id: str
    held: bool
    lines: tuple


def plan_resume(name, service, releases):
    """The ResumePlan of service `name` as read (pure). UsageError without the service;
    NothingToContinue when what runs is a recorded release with nothing held, no shipway
    release, or an update swarm rolled back or paused on its own."""
    if service is None:
        raise UsageError(f"there is no service {name}", hint="check --service and DOCKER_HOST")
    spec = service["Spec"]
    labels = spec.get("Labels") or {}
    image, release_id = image_of(spec), labels.get(history.RELEASE_LABEL)
    held = bool(labels.get(HELD_LABEL))
    running = history.running_release(releases, spec)
    if not release_id:
        raise NothingToContinue(f"service {name} runs no release shipway deployed; "
                                "nothing was changed")
    if running is not None and not held:
        raise NothingToContinue(f"service {name} runs release #{running.seq}, recorded: no "
                                "update is paused; nothing was changed")
    state = (service.get("UpdateStatus") or {}).get("State", "")
    if state.startswith("rollback") or state == "paused":
        raise NothingToContinue(f"swarm {'paused' if state == 'paused' else 'rolled back'} "
                                f"the update of {name} itself ({state}); nothing was changed",
                                hint="`shipway rollback` goes back, `shipway deploy` again "
                                     "starts over")
    lines = ([f"continue the update of {name} to {image}: write the rest (the service's own "
              "update policy), then the bake"] if held else
             [f"continue the update of {name} to {image}: every task has it; the bake again"])
    return ResumePlan(image, release_id, held, tuple(lines))


def resume(api, settings, steps, approved_by, report, timeout, registry_auth=None,
           dry_run=False):
    """apply.Result of `shipway continue` on service `settings["name"]`: read, plan_resume,
    then the steps' resume (with analysis) or the rest and swarm's verdict (without), and the
    release recorded with who approved it (`approved_by`). registry_auth: X-Registry-Auth
    for the nodes that pull the release for the rest."""
    name = settings["name"]
    service = engine.inspect_service(api, name)
    releases = history.history(api, name) if service is not None else []
    plan = plan_resume(name, service, releases)
    result = apply.Result(name, "continue" if dry_run else "continued", plan.image)
    if dry_run:
        result.plan = list(plan.lines)
        return result
    for line in plan.lines:
        report(line)
    labels = {APPROVED_BY: approved_by} if approved_by else {}
    watcher = Watcher(api, name, report)
    if steps is not None:
        try:
            result.outcome = steps.resume(watcher, service, releases, labels, timeout)
        finally:
            steps.close()
    else:
        result.outcome = _unjudged(api, watcher, service, labels, timeout, report,
                                   registry_auth)
    if result.outcome.ok:
        applied = _approved(watcher.service, labels)
        # The fields the deploy took from the catalog were not recorded with a paused
        # release: the release before's are the best guess (the same catalog, as a rule).
        managed = [tuple(p) for p in releases[0].managed] if releases else ()
        result.release = apply.remember(api, name, settings["deploy"]["keep_releases"], report,
                                        result.outcome, plan.release_id, applied, releases,
                                        managed)
    return result


def _unjudged(api, watcher, service, labels, timeout, report, registry_auth):
    """Without analysis: the rest (if held) and swarm's verdict."""
    image, since = image_of(service["Spec"]), (service.get("UpdateStatus") or {}).get("StartedAt")
    rest = canary.held_rest(service, labels, done="updating the rest")
    if rest is None:
        return watcher.wait(Expectation(image, Follow.UPDATE, None), timeout)

    def step():
        current = engine.inspect_service(api, service["ID"])
        write = canary.rest_write(rest, current)
        if isinstance(write, Outcome):
            return write
        execute.carry_out(api, [write], registry_auth, report)
        return (current.get("UpdateStatus") or {}).get("StartedAt")

    started = execute.retried(step, report)
    if isinstance(started, Outcome):
        return watcher.wait(Expectation(image, Follow.UPDATE, since), 5.0)
    return watcher.wait(Expectation(image, Follow.UPDATE, started), timeout)


def _approved(service, labels):
    """The service as recorded: with who approved it, when no write put it on the spec (the
    rest was out already)."""
    if service is None or not labels:
        return service
    out = copy.deepcopy(service)
    out["Spec"]["Labels"] = {**(out["Spec"].get("Labels") or {}), **labels}
    return out
