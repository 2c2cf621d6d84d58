"""Bring a service to a desired spec (create / update / nothing) and to its previous spec.

Desired is compared with current and only a difference is written, so a repeated deploy of
the same release is a no-op that reports what runs. "update out of sequence" (someone else
updated the service between our read and our write) is retried on the fresh spec.
"""
import copy

from pipeline.api import engine
from pipeline.errors import DeployError, NothingToRollBack, UsageError
from pipeline.record import field, record
from pipeline.swarm import plan as planner
from pipeline.swarm import releases as history
from pipeline.swarm import spec as specs
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.watch import Outcome, Watcher, serving

OUT_OF_SEQUENCE_ATTEMPTS = 5


@record
class Result:
    """What deploy/rollback did and how it ended."""

    service: str
    action: str                      # created | updated | unchanged | rollback | create/update
                                     # (a dry run: what it would do)
    image: str
    previous_image: str = ""
    outcome: Outcome = None
    plan: list = field(default_factory=list)       # lines for the console (a dry run)
    changes: list = field(default_factory=list)    # plan.Change: what was (or would be) written
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
            "changes": [c.summary() for c in self.changes],
            "release": self.release.summary() if self.release else None,
            "forensics": o.forensics if o else [],
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

    for attempt in range(1, OUT_OF_SEQUENCE_ATTEMPTS + 1):
        try:
            return fn()
        except engine.Refused as exc:  # from engine.create_service / engine.update_service
            if attempt == OUT_OF_SEQUENCE_ATTEMPTS or not engine.is_out_of_sequence(exc):
                raise engine.api_error(exc, "the engine refused the service change") from None
            if report:
                report(f"the service changed meanwhile ({engine.short(exc)}); "
                       "retrying on its fresh spec")
            time.sleep(random.uniform(0.1, 0.5))  # let the other writer finish
    return None  # not reached: the last attempt returns or raises


def network_ids(api, names):
    """Network name -> id (the engine stores ids in the spec)."""
    ids = {}
    for name in names:
        try:
            ids[name] = engine.call(api.inspect_network, name)["Id"]
        except engine.NotFoundError:
            raise UsageError(f"network {name!r} does not exist", key="networks",
                             hint="create it: docker network create -d overlay --attachable "
                                  f"{name}") from None
    return ids


def objects_for(api, name, service, definitions, base_dir, environ, report, dry_run=False):
    """{"secret": refs, "config": refs} for the secrets and configs `service` names, as
    compose.convert takes them. Every one is planned first (a missing file or an unset
    variable stops the deploy here, before anything is created), then made to exist; a dry
    run only looks up which exist ("ID": "(new)" for the others)."""
    from pipeline.swarm import objects

    used = {kind: [ref["source"] for ref in service.get(kind + "s", [])]
            for kind in ("secret", "config")}
    if not any(used.values()):
        return {"secret": {}, "config": {}}

    def plan_all(key):
        wanted = {}
        for kind, names in used.items():
            try:   # a kind the service does not use needs no plan (nor, for secrets, a key)
                wanted[kind] = objects.plan(name, kind, definitions.get(kind + "s", {}), names,
                                            base_dir, environ,
                                            key=key if kind == "secret" else None) if names else []
            except UsageError as exc:
                exc.context.setdefault("key", kind + "s")   # the stage names the catalog key
                raise
        return wanted

    # No key yet (a dry run on a swarm shipway never made a secret in): all are new. Every
    # definition is read before the key is made, so that a bad one creates nothing.
    key = objects.naming_key(api, report, create=False) if used["secret"] else None
    wanted = plan_all(key or b"dry-run")
    if not dry_run:
        for kind, items in wanted.items():  # every external, of both kinds, before a create
            try:
                objects.ensure(api, [item for item in items if item.external], report)
            except UsageError as exc:
                exc.context.setdefault("key", kind + "s")
                raise
        if used["secret"] and key is None:
            wanted = plan_all(objects.naming_key(api, report))
        return {kind: objects.ensure(api, items, report) for kind, items in wanted.items()}
    refs = {}
    for kind, items in wanted.items():
        refs[kind] = {}
        for item in items:
            found = engine.find_object(api, kind, item.name)
            refs[kind][item.source] = {"Name": item.name, "ID": found["ID"] if found else "(new)"}
    return refs


@record
class Desired:
    """What a deploy asks for: fields (path -> value, see pipeline/swarm/plan.py) besides the
    image and shipway's labels; `managed`, the paths the catalog sets (None: no catalog);
    `defaults`, the fields a create adds where nothing was asked; `mode`, the mode the keys ask
    for (None: any); `current`, the service as read while the fields were worked out (None: no
    such service)."""

    name: str
    image: str
    fields: dict = field(default_factory=dict)
    managed: list = None
    defaults: dict = field(default_factory=dict)
    timeout: float = 300.0
    keep_releases: int = 10
    mode: str = None
    current: dict = None


def deploy(api, desired, build, registry_auth, report, dry_run=False, steps=None, first=None):
    """Make service `desired.name` run `desired.image` (pinned) with the fields asked for.

    steps: a canary.Steps when the release is judged by analysis (first batch, canary, the
    rest, bake), else None. first: (the service, a function giving its release history), both
    read under the lock just before, for the first attempt; a retry reads them again.
    """
    name, image = desired.name, desired.image
    release_id = history.new_id()
    labels = specs.deploy_labels(image, specs.digest_of(image), build, release_id)
    fields = {**desired.fields, planner.IMAGE: image, **planner.label_fields(labels)}
    watcher = Watcher(api, name, report)
    read = {"first": first}

    def attempt():
        given = read.pop("first", None)
        if given is not None:
            current, past = given
            existing = past()
        else:
            current = engine.inspect_service(api, name)
            existing = history.history(api, name)
        # The history outlives a `docker service rm` (a service made anew numbers on from its
        # newest record); the running release's record says which fields the catalog set last.
        read["history"] = existing
        running = history.running_release(existing, current["Spec"]) if current else None
        plan = planner.plan_deploy(name, current, fields, defaults=desired.defaults,
                                   managed=desired.managed,
                                   last_managed=running.managed if running else (),
                                   mode=desired.mode)
        previous = specs.image_of(current["Spec"]) if current else ""
        action = {"create": "created", "update": "updated"}.get(plan.action, plan.action)
        result = Result(name, plan.action if dry_run else action, image, previous or "",
                        changes=plan.changes)
        if dry_run:
            return result, plan
        if plan.action == "create":
            report(f"creating service {name} with {image}")
            engine.create_service(api, plan.spec, registry_auth)
        elif plan.action == "update":
            report(f"updating service {name}: " + "; ".join(c.line() for c in plan.changes))
            spec = plan.spec
            if steps is not None and plan.wait == "update":  # analysis: the first batch only
                spec = steps.first(current["Spec"], spec)
            engine.update_service(api, current["ID"], current["Version"]["Index"], spec,
                                  registry_auth)
        elif plan.wait != "paused":
            report(f"service {name} already has this spec "
                   f"({(current.get('UpdateStatus') or {}).get('State') or 'no update'})")
        return result, plan

    result, plan = _retry_out_of_sequence(attempt, report)
    if dry_run:
        verb = {"create": f"create service {name} with {image}:",
                "update": f"update service {name}:"}.get(plan.action, f"service {name}: no change")
        result.plan = [verb] + ["  " + c.line() for c in plan.changes]
        return result
    if plan.wait == "paused":
        service = engine.inspect_service(api, name)
        result.outcome = Outcome(False, "swarm paused the update of this release earlier",
                                 "paused", (service.get("UpdateStatus") or {}).get("Message", ""),
                                 serving(engine.list_tasks(api, service["ID"])))
        return result
    since = None if plan.since == "never" else plan.since
    judged = plan.action == "create" or (plan.action == "update" and plan.wait == "update")
    if steps is not None and judged:   # a new task template: judged by analysis
        result.outcome = steps.wait(watcher, Expectation(image, Follow(plan.wait), since),
                                    desired.timeout)
    else:
        result.outcome = watcher.wait(Expectation(image, Follow(plan.wait), since),
                                      desired.timeout)
    if result.outcome.ok:
        ours = release_id if plan.action in ("create", "update") else None
        result.release = remember(api, name, desired.keep_releases, report, result.outcome,
                                  ours, watcher.service, read.get("history"), plan.managed)
    return result


def remember(api, name, keep, report, outcome=None, release_id=None, applied=None,
             existing=None, managed=()):
    """Record the release the service now runs (if new) and prune the history to `keep`.

    With `release_id`, only that release: when the spec names another one, someone changed
    the service right after it converged, and `outcome` is marked as replaced. `applied` (the
    service as just read) and `existing` (the history as the deploy read it) save reading
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
    release = history.record(api, name, applied["Spec"], existing, managed=managed)
    if release is None:
        return None
    report(f"release #{release.seq} recorded ({release.image})")
    dropped = history.prune(api, name, keep, running=release, existing=existing)
    for old in dropped:
        report(f"release #{old.seq} dropped from the history (keeping {keep})")
    if dropped or _references_objects(applied):
        gone = {old.id for old in dropped} | {release.id}
        kept = [release] + [r for r in existing if r.id not in gone]
        collect_objects(api, name, report, applied, kept)
    return release


def _references_objects(service):
    container = (service or {}).get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec", {})
    previous = ((service or {}).get("PreviousSpec") or {}).get("TaskTemplate", {}) \
        .get("ContainerSpec", {})
    return any(spec.get(kind) for spec in (container, previous) for kind in ("Secrets", "Configs"))


def collect_objects(api, name, report, service=None, releases=None):
    """Remove the secrets and configs shipway made for `name` that no kept release, the
    running spec or swarm's PreviousSpec refers to (never one shipway did not make).
    `service` and `releases`, when the caller has them, save reading them again."""
    from pipeline.swarm import objects

    if service is None:
        service = engine.inspect_service(api, name)
    if releases is None:
        releases = history.history(api, name)
    specs_kept = [r.spec for r in releases]
    if service is not None:
        specs_kept += [service.get("Spec"), service.get("PreviousSpec")]
    return objects.collect_garbage(api, name, specs_kept, report)


def rollback(api, settings, registry_auth, report, dry_run=False, timeout=None, to=None,
             current=None, build=None):
    """Go back to the release before the running one (or release `to`), restoring its spec.

    With no release history (a service shipway never recorded), fall back to swarm's own
    PreviousSpec through the Engine API's `rollback=previous`. When the running release is the
    oldest recorded and swarm's PreviousSpec is a spec from before shipway (an adopted
    service), restore that and record it as release #0. `current`: the service as the caller
    just read it (read here when not given; read again only to retry a refused write).
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
    if target is None and not to:
        before = history.before_shipway(current, releases, running)
        if before is not None:
            return _restore_before_shipway(api, name, current, before, running, build,
                                           registry_auth, report, dry_run, timeout)
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
            result.outcome = Watcher(api, name, report).wait(
                Expectation(target.image, Follow.TASKS), timeout)
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
    result.outcome = Watcher(api, name, report).wait(
        Expectation(target.image, Follow.UPDATE, since), timeout)
    return result


def _restore_before_shipway(api, name, current, before, running, build, registry_auth, report,
                            dry_run, timeout):
    """Write swarm's PreviousSpec, the spec from before shipway, with shipway's labels (so the
    next rollback knows it runs release #0 and goes no further), and record it."""
    from pipeline.context import BuildInfo

    spec, what = before
    from_image, to_image = specs.image_of(current["Spec"]), specs.image_of(spec)
    result = Result(name, "rollback", to_image, from_image)
    line = f"roll back service {name} to {what}: {from_image} -> {to_image}"
    if dry_run:
        result.plan = [line]
        return result
    release_id = history.new_id()
    labels = specs.deploy_labels(to_image, specs.digest_of(to_image), build or BuildInfo(),
                                 release_id)
    restored = copy.deepcopy(spec)
    for path, value in planner.label_fields(labels).items():
        if value is None:
            planner.delete(restored, path)
        else:
            planner.put(restored, path, value)
    report(f"rolling back service {name} to {what}: {from_image} -> {to_image}")
    unread = [current]

    def attempt():
        fresh = unread.pop() if unread else engine.inspect_service(api, name)
        engine.update_service(api, fresh["ID"], fresh["Version"]["Index"], restored,
                              registry_auth)
        return (fresh.get("UpdateStatus") or {}).get("StartedAt")

    since = _retry_out_of_sequence(attempt, report)
    watcher = Watcher(api, name, report)
    result.outcome = watcher.wait(Expectation(to_image, Follow.UPDATE, since), timeout)
    if result.outcome.ok and watcher.service is not None:
        result.release = history.record(api, name, watcher.service["Spec"],
                                        managed=(), seq=max(0, running.seq - 1))
        if result.release is not None:
            report(f"release #{result.release.seq} recorded ({to_image})")
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
        result.outcome = Watcher(api, name, report).wait(
            Expectation(result.image, Follow.ROLLBACK, since), timeout)
    return result


def remove(api, name, report, dry_run=False, settle=30.0):
    """Remove the service, its release history and the secrets and configs shipway made for
    it (those only: they carry shipway's labels)."""
    import time

    from pipeline.swarm import objects

    current = engine.inspect_service(api, name)
    releases = history.history(api, name)
    owned = objects.collect_garbage(api, name, [], None, dry_run=True)
    if current is None and not releases and not owned:
        raise UsageError(f"there is no service {name} and no release history for it",
                         hint="check --service and DOCKER_HOST")
    plan = ([f"remove service {name}"] if current else []) + \
        [f"remove release #{r.seq} record ({r.image})" for r in releases] + \
        [f"remove {kind} {obj}" for kind, obj in owned]
    if dry_run:
        return plan
    if current is not None:
        engine.remove_service(api, current["ID"])
        report(f"service {name} removed")
    history.remove_all(api, name)
    report(f"{len(releases)} release records removed")
    # A container that is still stopping holds its secrets a moment longer: the engine says
    # "in use" until it is gone, so try again for a while rather than leave them behind.
    deadline = time.monotonic() + settle
    while owned:
        objects.remove_all(api, name, report)
        owned = objects.collect_garbage(api, name, [], None, dry_run=True)
        if not owned or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if owned:
        report(f"left in place, still in use: {', '.join(f'{k} {o}' for k, o in owned)} "
               "(run shipway remove again to remove them)")
    return plan
