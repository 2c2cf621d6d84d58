"""Bring a service to a desired spec (create / update / nothing) and to its previous spec.

Desired is compared with current and only a difference is written, so a repeated deploy of
the same release is a no-op that reports what runs. "update out of sequence" (someone else
updated the service between our read and our write) is retried on the fresh spec.
"""
from dataclasses import dataclass, field

from pipeline.api import engine
from pipeline.errors import DeployError, NothingToRollBack, UsageError
from pipeline.swarm import releases as history
from pipeline.swarm import spec as specs
from pipeline.swarm.watch import Outcome, Watcher, serving

OUT_OF_SEQUENCE_ATTEMPTS = 5
IN_FLIGHT = ("updating", "rollback_started")


@dataclass
class Result:
    """What deploy/rollback did and how it ended."""

    service: str
    action: str                      # created | updated | unchanged | rolled back | planned
    image: str
    previous_image: str = ""
    outcome: Outcome = None
    plan: list = field(default_factory=list)
    release: object = None           # the Release recorded or restored

    def summary(self):
        """The JSON record (and Jenkins artifact) of this run."""
        o = self.outcome
        return {
            "service": self.service, "action": self.action, "image": self.image,
            "digest": specs.digest_of(self.image), "previous_image": self.previous_image,
            "ok": bool(o and o.ok), "reason": o.reason if o else "",
            "running": o.running if o else 0, "desired": o.desired if o else 0,
            "running_image": o.running_image if o else "",
            "update_state": o.update_state if o else "", "task_error": o.task_error if o else "",
            "release": self.release.summary() if self.release else None,
        }

    def failure(self):
        """The DeployError of a run that did not end healthy, with its context."""
        o = self.outcome
        return DeployError(self.failure_message(), service=self.service,
                           running_image=o.running_image, task_error=o.task_error)

    def failure_message(self):
        """One line: what failed, the task's error, and what the service runs now."""
        o = self.outcome
        verb = {"created": "create", "updated": "update", "unchanged": "deploy"}.get(
            self.action, self.action)
        text = f"{verb} of {self.service} to {self.image} failed: {o.reason}"
        if o.update_message:
            text += f" ({o.update_message})"
        if o.task_error:
            text += f"; task error: {o.task_error}"
        return text + f"; the service now runs {o.running_image}"


def _retry_out_of_sequence(fn, report=None):
    """Run fn(); when swarm says "update out of sequence", read again and retry.

    A plain loop, not tenacity: importing tenacity would cost every deploy ~20-50 ms before
    swarm starts, for a retry that is rare.
    """
    import random
    import time

    from docker.errors import APIError

    for attempt in range(1, OUT_OF_SEQUENCE_ATTEMPTS + 1):
        try:
            return fn()
        except APIError as exc:
            if attempt == OUT_OF_SEQUENCE_ATTEMPTS or not engine.is_out_of_sequence(exc):
                raise engine.api_error(exc, "the engine refused the service change") from None
            if report:
                report(f"the service changed meanwhile ({engine.short(exc)}); "
                       "retrying on its fresh spec")
            time.sleep(random.uniform(0.1, 0.5))  # let the other writer finish
    return None  # not reached: the last attempt returns or raises


def network_ids(api, names):
    """Network name -> id (the engine stores ids in the spec)."""
    from docker.errors import NotFound

    ids = {}
    for name in names:
        try:
            ids[name] = api.inspect_network(name)["Id"]
        except NotFound:
            raise UsageError(f"network {name!r} does not exist",
                             hint=f"create it: docker network create -d overlay --attachable {name}"
                             ) from None
    return ids


def deploy(api, settings, image, build, registry_auth, report, dry_run=False, steps=None):
    """Make service `settings['name']` run `image` (pinned) with the settings' deploy spec.

    steps: a canary.Steps when the release is judged by analysis (first batch, canary, the
    rest, bake), else None.
    """
    name = settings["name"]
    timeout = settings["deploy"]["timeout"]
    ids = network_ids(api, settings["deploy"]["networks"])
    release_id = history.new_id()
    labels = specs.deploy_labels(image, specs.digest_of(image), build, release_id)
    desired = specs.desired_spec(settings, image, ids, labels)
    watcher = Watcher(api, name, report)

    def attempt():
        current = engine.inspect_service(api, name)
        if current is None:
            if dry_run:
                return Result(name, "planned", image,
                              plan=[f"create service {name} with {image}"]), None, None
            report(f"creating service {name} with {image}")
            engine.create_service(api, desired, registry_auth)
            return Result(name, "created", image), "tasks", None
        previous = specs.image_of(current["Spec"])
        diffs = specs.differences(current["Spec"], desired)
        status = current.get("UpdateStatus") or {}
        if not diffs:
            if dry_run:
                return Result(name, "planned", image, previous,
                              plan=[f"service {name}: no change"]), None, None
            if status.get("State") == "paused":
                return Result(name, "unchanged", image, previous), "paused", None
            mode = "update" if status.get("State") in IN_FLIGHT else "tasks"
            report(f"service {name} already has this spec ({status.get('State') or 'no update'})")
            return Result(name, "unchanged", image, previous), mode, "never"
        plan = specs.describe(current["Spec"], desired, diffs)
        if dry_run:
            return Result(name, "planned", image, previous, plan=[f"update service {name}:"] +
                          ["  " + line for line in plan]), None, None
        report(f"updating service {name}: " + "; ".join(plan))
        template_changed = any(d.startswith("TaskTemplate") for d in diffs)
        spec = specs.apply(current["Spec"], desired)
        if steps is not None and template_changed:  # analysis: first write, first batch only
            spec = steps.first(current["Spec"], spec)
        engine.update_service(api, current["ID"], current["Version"]["Index"], spec,
                              registry_auth)
        return (Result(name, "updated", image, previous),
                "update" if template_changed else "tasks", status.get("StartedAt"))

    result, mode, since = _retry_out_of_sequence(attempt, report)
    if dry_run:
        return result
    if mode == "paused":
        service = engine.inspect_service(api, name)
        result.outcome = Outcome(False, "swarm paused the update of this release earlier",
                                 "paused", (service.get("UpdateStatus") or {}).get("Message", ""),
                                 serving(engine.list_tasks(api, service["ID"])))
        return result
    if since == "never":  # nothing written: judge the update in flight, or the tasks, as they are
        since = None
    # Read the history now, while swarm works, not after: the release is recorded sooner.
    existing = history.history(api, name)
    judged = result.action == "created" or (result.action == "updated" and mode == "update")
    if steps is not None and judged:   # a new task template: judged by analysis
        result.outcome = steps.wait(watcher, image, mode, timeout, since)
    else:
        result.outcome = watcher.wait(image, mode, timeout, since)
    if result.outcome.ok:
        ours = release_id if result.action in ("created", "updated") else None
        result.release = remember(api, name, settings["deploy"]["keep_releases"], report,
                                  result.outcome, ours, watcher.service, existing)
    return result


def remember(api, name, keep, report, outcome=None, release_id=None, applied=None,
             existing=None):
    """Record the release the service now runs (if new) and prune the history to `keep`.

    With `release_id`, only that release: when the spec names another one, someone changed
    the service right after it converged, and `outcome` is marked as replaced. `applied` (the
    service as just read) and `existing` (the history as read during the wait) save reading
    them again; a release another deploy recorded meanwhile only shifts the number (409).
    """
    if applied is None:
        applied = engine.inspect_service(api, name)
    if applied is None:
        outcome.ok, outcome.reason = False, "the service was removed while shipway waited for it"
        return None
    running = (applied["Spec"].get("Labels") or {}).get(history.RELEASE_LABEL)
    if release_id and running != release_id:
        outcome.ok, outcome.reason = False, "another change to the service replaced this one"
        outcome.running_image = specs.image_of(applied["Spec"])
        return None
    if existing is None:
        existing = history.history(api, name)
    known = history.running_release(existing, applied["Spec"])
    if known is not None:
        return known  # recorded before (a re-run of the same release)
    release = history.record(api, name, applied["Spec"], existing)
    if release is None:
        return None
    report(f"release #{release.seq} recorded ({release.image})")
    for old in history.prune(api, name, keep, running=release, existing=existing):
        report(f"release #{old.seq} dropped from the history (keeping {keep})")
    return release


def rollback(api, settings, registry_auth, report, dry_run=False, timeout=None, to=None,
             current=None):
    """Go back to the release before the running one (or release `to`), restoring its spec.

    With no release history (a service shipway never recorded), fall back to swarm's own
    PreviousSpec through the Engine API's `rollback=previous`. `current`: the service as the
    caller just read it (read here when not given; read again only to retry a refused write).
    """
    name = settings["name"]
    timeout = timeout or settings["deploy"]["timeout"]
    if current is None:
        current = engine.inspect_service(api, name)
    if current is None:
        raise UsageError(f"there is no service {name}", hint="check --service and DOCKER_HOST")
    releases = history.history(api, name)
    if not releases:
        if to:
            raise NothingToRollBack(f"service {name} has no recorded releases to pick {to!r} "
                                    "from; nothing was changed")
        return _swarm_rollback(api, name, registry_auth, report, dry_run, timeout, current)
    running = history.running_release(releases, current["Spec"])
    target = history.choose(releases, running, to,
                            specs.digest_of(specs.image_of(current["Spec"])))
    if target is None:
        what = (f"#{running.seq} (build {running.build_number or '-'})" if running
                else "what it runs")
        raise NothingToRollBack(f"service {name} has no release older than {what} with another "
                                "image to roll back to; nothing was changed")
    from_image = specs.image_of(current["Spec"])
    result = Result(name, "rollback", target.image, from_image, release=target)
    if running is not None and target.id == running.id:
        report(f"service {name} already runs release #{target.seq}")
        result.action = "unchanged"
        if not dry_run:
            result.outcome = Watcher(api, name, report).wait(target.image, "tasks", timeout)
        return result
    if dry_run:
        result.plan = [f"roll back service {name} to release #{target.seq} "
                       f"(build {target.build_number or '-'}): {from_image} -> {target.image}"]
        return result
    report(f"rolling back service {name} to release #{target.seq} (build "
           f"{target.build_number or '-'}, {target.created}): {from_image} -> {target.image}")

    unread = [current]  # the first attempt writes at the version read above

    def attempt():
        fresh = unread.pop() if unread else engine.inspect_service(api, name)
        # The release's whole spec, as it was applied: not only its image.
        engine.update_service(api, fresh["ID"], fresh["Version"]["Index"], target.spec,
                              registry_auth)
        return (fresh.get("UpdateStatus") or {}).get("StartedAt")

    since = _retry_out_of_sequence(attempt, report)
    result.outcome = Watcher(api, name, report).wait(target.image, "update", timeout, since)
    return result


def _swarm_rollback(api, name, registry_auth, report, dry_run, timeout, current):
    """Swarm's PreviousSpec through `rollback=previous` (services with no shipway history)."""
    unread = [current]

    def attempt():
        current = unread.pop() if unread else engine.inspect_service(api, name)
        previous = current.get("PreviousSpec")
        if not previous:
            raise NothingToRollBack(f"service {name} has no previous spec to roll back to; "
                                    "nothing was changed")
        from_image, to_image = specs.image_of(current["Spec"]), specs.image_of(previous)
        result = Result(name, "rollback", to_image, from_image)
        if dry_run:
            result.plan = [f"roll back service {name}: {from_image} -> {to_image}"]
            return result, None
        report(f"rolling back service {name} to swarm's previous spec: {from_image} -> {to_image}")
        engine.update_service(api, current["ID"], current["Version"]["Index"], current["Spec"],
                              registry_auth, rollback=True)
        return result, (current.get("UpdateStatus") or {}).get("StartedAt")

    result, since = _retry_out_of_sequence(attempt, report)
    if not dry_run:
        result.outcome = Watcher(api, name, report).wait(result.image, "rollback", timeout, since)
    return result


def remove(api, name, report, dry_run=False):
    """Remove the service and its release history."""
    current = engine.inspect_service(api, name)
    releases = history.history(api, name)
    if current is None and not releases:
        raise UsageError(f"there is no service {name} and no release history for it",
                         hint="check --service and DOCKER_HOST")
    plan = ([f"remove service {name}"] if current else []) + \
        [f"remove release #{r.seq} record ({r.image})" for r in releases]
    if dry_run:
        return plan
    if current is not None:
        engine.remove_service(api, current["ID"])
        report(f"service {name} removed")
    history.remove_all(api, name)
    report(f"{len(releases)} release records removed")
    return plan
