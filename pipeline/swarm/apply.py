"""Bring a service to a desired spec (create / update / nothing) and to its previous spec.

Desired is compared with current and only a difference is written, so a repeated deploy of
the same release is a no-op that reports what runs. "update out of sequence" (someone else
updated the service between our read and our write) is retried on the fresh spec
(execute.retried: read again, plan again, write at the fresh version).
"""
from dataclasses import dataclass, field
from typing import Optional

from pipeline.api import engine
from pipeline.context import BuildInfo
from pipeline.errors import DeployError, UsageError
from pipeline.swarm import execute, objects, rollback_plan
from pipeline.swarm import plan as planner
from pipeline.swarm import releases as history
from pipeline.swarm import spec as specs
from pipeline.swarm.plan import Action, Paused
from pipeline.swarm.watch import Outcome, Watcher, serving


@dataclass
class Result:
    """What deploy/rollback did and how it ended."""

    service: str
    action: str                      # created | updated | unchanged | rollback | create/update
                                     # (a dry run: what it would do)
    image: str
    previous_image: str = ""
    outcome: Optional[Outcome] = None
    plan: list = field(default_factory=list)       # lines for the console (a dry run)
    changes: list = field(default_factory=list)    # plan.Change: what was (or would be) written
    release: object = None           # the Release recorded or restored
    first_write: Optional[dict] = None   # a dry run judged by analysis: its first write

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
            **({"first_write": self.first_write} if self.first_write else {}),
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


@dataclass
class Desired:
    """What a deploy asks for: fields (path -> value, see pipeline/swarm/plan.py) besides the
    image and shipway's labels; `managed`, the paths the catalog sets (None: no catalog);
    `defaults`, the fields a create adds where nothing was asked; `mode`, the mode the keys ask
    for (None: any); `current`, the service as read while the fields were worked out (None: no
    such service)."""

    name: str
    image: str
    fields: dict = field(default_factory=dict)
    managed: Optional[list] = None
    defaults: dict = field(default_factory=dict)
    timeout: float = 300.0
    keep_releases: int = 10
    mode: Optional[str] = None
    current: Optional[dict] = None


def deploy(api, desired, build, registry_auth, report, dry_run=False, steps=None, first=None):
    """Make service `desired.name` run `desired.image` (pinned) with the fields asked for:
    read, plan, carry the plan out (again on a refused out-of-sequence write), watch, record.

    steps: a canary.Steps when the release is judged by analysis (first batch, canary, the
    rest, bake), else None. first: (the service, a function giving its release history), both
    read under the lock just before, for the first attempt; a retry reads them again.
    """
    name, image = desired.name, desired.image
    release_id = history.new_id()
    labels = specs.deploy_labels(image, specs.digest_of(image), build, release_id)
    fields = {**desired.fields, planner.IMAGE: image, **planner.label_fields(labels)}
    read = {"first": first}

    def step():
        given = read.pop("first", None)
        current, existing = ((given[0], given[1]()) if given is not None else
                             (engine.inspect_service(api, name), history.history(api, name)))
        # The history outlives a `docker service rm` (a service made anew numbers on from its
        # newest record); the running release's record says which fields the catalog set last.
        read["history"] = existing
        plan = _plan(desired, current, existing, fields, steps)
        if not dry_run:
            execute.carry_out(api, plan.writes, registry_auth, report)
            if plan.action is Action.UNCHANGED and not isinstance(plan.expect, Paused):
                report(f"service {name} already has this spec "
                       f"({(current.get('UpdateStatus') or {}).get('State') or 'no update'})")
        return current, plan

    current, plan = execute.retried(step, report)
    previous = (specs.image_of(current["Spec"]) if current else "") or ""
    action = plan.action.value if dry_run else PAST[plan.action]
    result = Result(name, action, image, previous, changes=plan.changes)
    if dry_run:
        result.plan = plan.lines(name, image)
        result.first_write = plan.summary().get("first_write")
        return result
    if steps is not None and plan.new_template:
        steps.start(current, read["history"], plan)
    watcher = Watcher(api, name, report)
    result.outcome = _watch(api, name, watcher, plan, steps, desired.timeout)
    if result.outcome.ok:
        ours = release_id if plan.action is not Action.UNCHANGED else None
        result.release = remember(api, name, desired.keep_releases, report, result.outcome,
                                  ours, watcher.service, read.get("history"), plan.managed)
    return result


PAST = {Action.CREATE: "created", Action.UPDATE: "updated", Action.UNCHANGED: "unchanged"}


def _plan(desired, current, existing, fields, steps):
    """The deploy's plan from what was read (pure but for the analysis' history read)."""
    running = history.running_release(existing, current["Spec"]) if current else None
    plan = planner.plan_deploy(desired.name, current, fields, defaults=desired.defaults,
                               managed=desired.managed,
                               last_managed=running.managed if running else (),
                               mode=desired.mode)
    if steps is not None and plan.action is Action.UPDATE and plan.new_template:
        plan = steps.first(plan, desired.timeout)   # analysis: the first batch only
    return plan


def _watch(api, name, watcher, plan, steps, timeout):
    """The Outcome of the writes: judged by analysis for a new template when the deploy has
    one; nothing to wait for when swarm paused this spec earlier."""
    if isinstance(plan.expect, Paused):
        service = engine.inspect_service(api, name)
        return Outcome(False, "swarm paused the update of this release earlier", "paused",
                       (service.get("UpdateStatus") or {}).get("Message", ""),
                       serving(engine.list_tasks(api, service["ID"])))
    if steps is not None and plan.new_template:
        return steps.wait(watcher, plan.expect, timeout)
    return watcher.wait(plan.expect, timeout)


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
    """Go back to the release before the running one (or release `to`), restoring its spec
    (rollback_plan.plan_rollback says which), watch it and record a restored spec from
    before shipway. `current`: the service as the caller just read it (read here when not
    given; read again only to retry a refused write)."""
    name = settings["name"]
    timeout = timeout or settings["deploy"]["timeout"]
    release_id = history.new_id()
    given = [current] if current is not None else []

    def step():
        service = given.pop() if given else engine.inspect_service(api, name)
        releases = history.history(api, name) if service is not None else []
        image = specs.image_of((service or {}).get("Spec")) or ""
        plan = rollback_plan.plan_rollback(
            name, service, releases, to, specs.deploy_labels(
                image, specs.digest_of(image), build or BuildInfo(), release_id))
        if plan.note:
            report(plan.note)
        if not dry_run:
            execute.carry_out(api, plan.writes, registry_auth, report)
        return plan

    plan = execute.retried(step, report)
    result = Result(name, plan.action, plan.image, plan.previous_image, release=plan.target)
    if dry_run:
        result.plan = plan.lines
        return result
    watcher = Watcher(api, name, report)
    result.outcome = watcher.wait(plan.expect, timeout)
    if plan.record_seq is not None and result.outcome.ok and watcher.service is not None:
        result.release = history.record(api, name, watcher.service["Spec"], managed=(),
                                        seq=plan.record_seq)
        if result.release is not None:
            report(f"release #{result.release.seq} recorded ({plan.image})")
    return result


def remove(api, name, report, dry_run=False, settle=30.0):
    """Remove the service, its release history and the secrets and configs shipway made for
    it (those only: they carry shipway's labels); the dry run's lines."""
    current = engine.inspect_service(api, name)
    releases = history.history(api, name)
    owned = objects.collect_garbage(api, name, [], None, dry_run=True)
    writes, lines = rollback_plan.plan_remove(name, current, releases, owned, settle)
    if not dry_run:
        execute.carry_out(api, writes, None, report)
    return lines
