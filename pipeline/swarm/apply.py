"""Bring a service to a desired spec (create / update / nothing) and to its previous spec.

Desired is compared with current and only a difference is written, so a repeated deploy of
the same release is a no-op that reports what runs. "update out of sequence" (someone else
updated the service between our read and our write) is retried on the fresh spec
(execute.retried: read again, plan again, write at the fresh version).
"""
import time
from dataclasses import dataclass, field, replace
from typing import Optional

from pipeline.api import engine
from pipeline.context import BuildInfo
from pipeline.errors import DeployError, UsageError
from pipeline.swarm import deploy_plan, deploy_read, execute, objects, rollback_plan
from pipeline.swarm import releases as history
from pipeline.swarm import spec as specs
from pipeline.swarm.judge import Outcome
from pipeline.swarm.plan import Action, Done, Paused
from pipeline.swarm.replicas import serving
from pipeline.swarm.watch import Watcher
from pipeline.swarm.writes import CreateNamingKey


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
    objects: Optional[list] = None       # a dry run: the secrets and configs it would make
    networks: Optional[list] = None      # a dry run: the networks it would make
    remarks: Optional[list] = None       # a dry run: what it says before its writes
    job: str = ""                    # a job service: whether and why it runs (the plan's)

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
            **({"objects": self.objects} if self.objects else {}),
            **({"networks": self.networks} if self.networks else {}),
            **({"remarks": self.remarks} if self.remarks else {}),
            **({"job": {**(o.job if o else {}), "plan": self.job}} if self.job else {}),
        }

    def failure(self):
        """The DeployError of a run that did not end healthy, with its context."""
        o = self.outcome
        hint = None
        if o.job:
            hint = ("the `forensics:` lines above hold its output; a deploy runs a job whose "
                    "last run failed again")
        return DeployError(self.failure_message(), service=self.service, hint=hint,
                           running_image=o.running_image, task_error=o.task_error)

    def failure_message(self):
        """One line: what failed, the task's error, and what the service runs now; for a
        job, how its run failed (a task's exit code) and its last lines."""
        o = self.outcome
        if o.job:
            last = o.job.get("last_lines") or []
            return (f"job {self.service} on {self.image} failed: {o.reason}"
                    + ("; last lines: " + " | ".join(last) if last else "; no output"))
        verb = {"created": "create", "updated": "update", "unchanged": "deploy"}.get(
            self.action, self.action)
        text = f"{verb} of {self.service} to {self.image} failed: {o.reason}"
        if o.update_message:
            text += f" ({o.update_message})"
        if o.task_error:
            text += f"; task error: {o.task_error}"
        return text + f"; the service now runs {o.running_image}"


def deploy(api, request, steps=None):
    """Make service `request.name` run `request.image` (pinned) with the fields asked for:
    read, plan (deploy_plan), carry the plan out (again from the read on a write refused as
    out of sequence), watch, record. steps: a canary.Steps when the release is judged by
    analysis (first batch, canary, the rest, bake), else None."""
    name, image, report = request.name, request.image, request.report
    release_id = history.new_id()
    labels = specs.deploy_labels(image, specs.digest_of(image), request.build, release_id,
                                 request.provenance)

    def read():
        with deploy_plan.catalog_keys(request):   # a bad secret or config definition
            return deploy_read.read(api, request)

    def step():
        reading = read()
        plan = _plan(request, reading, labels, steps)
        if request.dry_run:
            return reading, plan
        if plan.writes and isinstance(plan.writes[0], CreateNamingKey):
            # The secrets are named with the key: made first, then read and planned again.
            execute.carry_out(api, plan.writes[:1], request.registry_auth, report)
            reading = read()
            plan = _plan(request, reading, labels, steps)
        for line in plan.remarks + plan.notes:
            report(line)
        if plan.job and not isinstance(plan.expect, Done):
            report(plan.job)
        execute.carry_out(api, plan.writes, request.registry_auth, report)
        if plan.action is Action.UNCHANGED and not isinstance(plan.expect, Paused) \
                and not plan.job:
            state = (reading.current.get("UpdateStatus") or {}).get("State")
            report(f"service {name} already has this spec ({state or 'no update'})")
        return reading, plan

    reading, plan = execute.retried(step, report)
    current = reading.current
    previous = (specs.image_of(current["Spec"]) if current else "") or ""
    action = plan.action.value if request.dry_run else PAST[plan.action]
    result = Result(name, action, image, previous, changes=plan.changes, job=plan.job)
    if request.dry_run:
        result.plan = plan.lines(name, image)
        summary = plan.summary()
        result.first_write, result.objects = summary.get("first_write"), summary.get("objects")
        result.networks, result.remarks = summary.get("networks"), summary.get("remarks")
        return result
    judged = steps is not None and plan.new_template
    try:
        if judged:
            steps.start(current, reading.releases, plan)
        watcher = Watcher(api, name, report)
        result.outcome = _watch(api, name, watcher, plan, steps, request.timeout)
    finally:
        if judged:
            steps.close()
    if result.outcome.ok:
        ours = release_id if plan.action is not Action.UNCHANGED else None
        result.release = remember(api, name, request.keep_releases, report, result.outcome,
                                  ours, watcher.service, reading.releases, plan.managed)
    return result


PAST = {Action.CREATE: "created", Action.UPDATE: "updated", Action.UNCHANGED: "unchanged"}


def _plan(request, reading, labels, steps):
    """The deploy's plan from what was read (pure); with analysis, its first write."""
    plan = deploy_plan.plan_request(request, reading, labels)
    if steps is not None and plan.job:
        raise UsageError(f"deploy.analysis: service {request.name} is a job: its run serves "
                         "no traffic to judge", hint="remove deploy.analysis")
    if steps is not None and plan.action is Action.UPDATE and plan.new_template:
        plan = steps.first(plan, request.timeout)   # analysis: the first batch only
    return plan


def _watch(api, name, watcher, plan, steps, timeout):
    """The Outcome of the writes: judged by analysis for a new template when the deploy has
    one; nothing to wait for when swarm paused this spec earlier."""
    if isinstance(plan.expect, Done):
        run = plan.expect.run
        return Outcome(True, f"job completed on this digest at {run.finished}",
                       running_image=plan.expect.image, running=run.completed,
                       desired=run.wanted, job=run.summary())
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
             current=None, build=None, note=None):
    """Go back to the release before the running one (or release `to`), restoring its spec
    (rollback_plan.plan_rollback says which), watch it and record a restored spec from
    before shipway. `current`: the service as the caller just read it (read here when not
    given; read again only to retry a refused write). `note`: a rollback_plan.Note, written
    on the record of the release it leaves once the rollback ran healthy."""
    name = settings["name"]
    timeout = timeout or settings["deploy"]["timeout"]
    release_id = history.new_id()
    given = [current] if current is not None else []
    # The release the first read chose stays the target when a refused write is planned
    # again: the rollback asked for is to it, not to whatever came before a change made
    # meanwhile (another deploy's, not recorded yet).
    target = {"to": to}
    if note is not None:   # the time the rollback was written, as a record says times
        note = replace(note, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def step():
        service = given.pop() if given else engine.inspect_service(api, name)
        releases = history.history(api, name) if service is not None else []
        image = specs.image_of((service or {}).get("Spec")) or ""
        plan = rollback_plan.plan_rollback(
            name, service, releases, target["to"], specs.deploy_labels(
                image, specs.digest_of(image), build or BuildInfo(), release_id), note)
        if plan.target is not None:
            target["to"] = f"#{plan.target.seq}"
        target.setdefault("from", plan.previous_image)   # what it ran when asked
        if plan.note:
            report(plan.note)
        if not dry_run:
            execute.carry_out(api, plan.writes, registry_auth, report)
        return plan

    plan = execute.retried(step, report)
    result = Result(name, plan.action, plan.image, target["from"], release=plan.target)
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
    if result.outcome.ok:
        execute.carry_out(api, plan.after, None, report)
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
