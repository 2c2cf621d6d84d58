"""A rolling update in steps judged by analysis: first batch -> canary -> the rest -> bake.

Swarm has no "pause after the first batch" switch, but its updater waits `Delay` after each
task it updated, per worker, and runs `Parallelism` workers (swarmkit
manager/orchestrator/update/updater.go). So the first write carries the release's spec with
UpdateConfig Parallelism = the first batch and a Delay longer than the canary window: swarm
updates one batch and idles. When the canary passes, the same spec is written again with the
user's own UpdateConfig: swarmkit cancels the running updater on a spec change and starts a
new one over the slots still dirty (the canary's tasks already match the template, so they
stay), which rolls out the rest as the user configured it. A failed check restores the release
before through `apply.rollback`, the same restore as `shipway rollback`.

Swarm's own failure action during "the rest" would roll back to the spec before the second
write, i.e. the canary's, with the new image: so a failed rest is restored here too.
"""
import copy
import dataclasses
import time

from pipeline import analysis, prometheus
from pipeline.analysis import Failed
from pipeline.api import engine
from pipeline.swarm import apply, execute
from pipeline.swarm import plan as planner
from pipeline.swarm import releases as history
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.judge import POLL_SECONDS, Outcome
from pipeline.swarm.replicas import serving
from pipeline.swarm.spec import image_of, task_image
from pipeline.swarm.watch import Watcher
from pipeline.swarm.writes import ReleaseRest, UpdateService
from pipeline.units import to_nanos

SWARM_GAVE_UP = ("paused", "rollback_started", "rollback_completed", "rollback_paused")


def first_batch(spec):
    """How many tasks the first step updates, or None when the update is one step (a single
    replica, parallelism 0 = all at once, or a batch as large as the service)."""
    replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas") or 0
    parallelism = (spec.get("UpdateConfig") or {}).get("Parallelism") or 0
    if 0 < parallelism < replicas:
        return parallelism
    return None


def canary_spec(spec, batch, hold_seconds):
    """`spec` with UpdateConfig Parallelism `batch` and a Delay of `hold_seconds`: swarm
    updates one batch, then waits (pure)."""
    out = copy.deepcopy(spec)
    update = dict(out.get("UpdateConfig") or {})
    update["Parallelism"] = batch
    update["Delay"] = to_nanos(hold_seconds)
    out["UpdateConfig"] = update
    return out


def first_write(plan, config, timeout):
    """The plan of an update judged by analysis (pure): when it takes several steps, its
    write carries the canary's UpdateConfig (the first batch, then a hold longer than the
    canary window), and the plan says how it differs from the spec (`plan.canary`); swarm
    gets the user's own UpdateConfig again once the canary passed (Steps.wait)."""
    batch = first_batch(plan.spec)
    if batch is None:
        return plan
    held = canary_spec(plan.spec, batch, config.canary + 2 * timeout + 60)
    write = plan.writes[0]
    note = (f"analysis: updating a first batch of {batch}, then a {config.canary:g}s canary "
            "window before the rest")
    changes = [planner.Change(("UpdateConfig", key), planner.get(plan.spec, ("UpdateConfig", key)),
                              held["UpdateConfig"][key]) for key in ("Parallelism", "Delay")
               if planner.normal(planner.get(plan.spec, ("UpdateConfig", key)))
               != planner.normal(held["UpdateConfig"][key])]
    rest = ReleaseRest(write.spec["TaskTemplate"]["ContainerSpec"]["Image"],
                       copy.deepcopy(plan.spec.get("UpdateConfig") or {}),
                       done="analysis: canary passed; updating the rest")
    return dataclasses.replace(plan, writes=[dataclasses.replace(
        write, spec=held, doing=f"{note}\n{write.doing}")] + plan.writes[1:],
        canary=changes, batch=batch, then=[rest])


def rest_write(rest, service):
    """The UpdateService of a ReleaseRest against the service as just read (pure), or the
    Outcome when another change replaced the release meanwhile."""
    if service is None or image_of(service["Spec"]) != rest.image:
        return Outcome(False, "another change to the service replaced this one",
                       running_image=image_of((service or {}).get("Spec")) or "nothing")
    spec = copy.deepcopy(service["Spec"])
    spec["UpdateConfig"] = copy.deepcopy(rest.update_config)
    return UpdateService(service["ID"], service["Version"]["Index"], spec, done=rest.done)


class Steps:
    """The deploy's analysis: `apply.deploy` plans the first write with `first_write`, calls
    `start(...)` once it is written and `wait(...)` instead of `watcher.wait(...)`.

    judge: an analysis.Judge. marker(result, image, release): a deploy marker, or None.
    """

    def __init__(self, api, settings, judge, registry_auth, report, marker=None):
        self.api = api
        self.settings = settings
        self.name = settings["name"]
        self.judge = judge
        self.config = judge.config
        self.registry_auth = registry_auth
        self.report = report
        self.marker = marker
        self.batch = None
        self.rest = None          # writes.ReleaseRest: the second write the plan made
        self.before = None        # the spec before the deploy (None: a create)
        self.previous = None      # the recorded release it ran, if any
        self.rolled_back = None   # apply.Result of the automatic rollback

    def start(self, current, releases, plan):
        """Keep what the steps after the first write need: the spec before (None: a
        create), the release it was, the user's UpdateConfig, the first batch."""
        if current is None:
            return
        self.before = copy.deepcopy(current["Spec"])
        self.previous = history.running_release(releases, current["Spec"])
        self.rest = plan.then[0] if plan.then else None
        self.batch = plan.batch

    def first(self, plan, timeout):
        """The plan with its first write as the analysis makes it (first_write)."""
        return first_write(plan, self.config, timeout)

    # --- the steps ---------------------------------------------------------------------
    def wait(self, watcher, expectation, timeout):
        """Roll out in steps and judge; the Outcome of the whole deploy (after a failed
        check: not ok, naming the check, after the release before was restored)."""
        image, since = expectation.image, expectation.since
        # `timeout` bounds each convergence (the first batch, the rest, a rollback), as it
        # bounds the one of a plain deploy; the windows come on top.
        if self.batch is None:
            outcome = watcher.wait(expectation, timeout)
            if not outcome.ok:
                return outcome
            windows = [("canary", self.config.canary), ("bake", self.config.bake)]
            return self._judge(windows, image, outcome, timeout)
        outcome = self._wait_healthy(watcher, image, timeout, since, self.batch, "first batch")
        if outcome is not None:
            return outcome     # swarm itself gave up on the first batch (or timed out)
        failed = self._window("canary", self.config.canary, image, timeout)
        if failed is not None:
            return self._restore(failed, image, timeout)
        first_started = self._write_rest()
        if isinstance(first_started, Outcome):
            # swarm rolled the first batch back by itself meanwhile, or someone else changed
            # the service: the watcher names which
            return watcher.wait(Expectation(image, Follow.UPDATE, since), 5.0)
        # The bake window starts once every task runs the release healthy, not when swarm
        # says `completed`: swarm's monitor period runs during the window, and its verdict
        # is read after it.
        outcome = self._wait_healthy(watcher, image, timeout, first_started, None, "all tasks")
        if outcome is None:
            failed = self._window("bake", self.config.bake, image, timeout)
            if failed is not None:
                return self._restore(failed, image, timeout)
            outcome = watcher.wait(Expectation(image, Follow.UPDATE, first_started),
                                     timeout)
            if outcome.ok:
                outcome.reason += "; analysis passed"
                return outcome
        if outcome.running_image == image or outcome.update_state.startswith("rollback"):
            return self._restore_after_swarm(outcome, image, timeout)
        return outcome

    def _judge(self, windows, image, outcome, timeout):
        for phase, seconds in windows:
            failed = self._window(phase, seconds, image, timeout)
            if failed is not None:
                return self._restore(failed, image, timeout)
        outcome.reason += "; analysis passed"
        return outcome

    def _window(self, phase, seconds, image, timeout):
        """None when the window passed (a window of 0s is not judged); else the Failed.
        With no_data wait it may run on past its end, by `timeout` at most."""
        if seconds <= 0:
            return None
        deadline = time.time() + seconds + timeout
        try:
            self.judge.window(phase, seconds, deadline)
        except Failed as failed:
            return failed
        return None

    def _wait_healthy(self, watcher, image, timeout, since, count, what):
        """Until `count` tasks (None: every replica) run `image` healthy: None then; else the
        watcher's Outcome of what swarm did instead (paused, rolled back, timed out,
        replaced). An old task still stopping (start-first) does not hold this up."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            service = engine.inspect_service(self.api, self.name)
            if service is None or image_of(service["Spec"]) != image:
                return self._why(watcher, image, since, timeout, timeout)
            status = service.get("UpdateStatus") or {}
            fresh = status.get("StartedAt") != since
            if fresh and status.get("State") in SWARM_GAVE_UP:
                # until swarm is done with it (a rollback converges, a pause stays)
                return self._why(watcher, image, since, timeout, timeout)
            tasks = engine.list_tasks(self.api, service["ID"])
            healthy = {t.get("Slot") for t in tasks if t.get("DesiredState") == "running"
                       and t["Status"]["State"] == "running" and task_image(t) == image}
            want = count or service["Spec"]["Mode"]["Replicated"]["Replicas"]
            if len(healthy) != seen:
                seen = len(healthy)
                self.report(f"analysis: {what}: {seen}/{want} tasks of the new release healthy")
            if len(healthy) >= want:
                return None
            time.sleep(POLL_SECONDS)
        return self._why(watcher, image, since, 1.0, timeout)

    @staticmethod
    def _why(watcher, image, since, seconds, timeout):
        """The watcher's account (within `seconds`) of an update that did not get there: it
        names a pause, a rollback by swarm, another change, the task's error; None if it
        got there after all. A timeout is named as the deploy's own."""
        outcome = watcher.wait(Expectation(image, Follow.UPDATE, since), seconds)
        if outcome.ok:
            return None
        outcome.reason = outcome.reason.replace(f"timed out after {seconds:.0f}s",
                                                f"timed out after {timeout:.0f}s", 1)
        return outcome

    def _write_rest(self):
        """The plan's second write, at the version read now; the first update's StartedAt
        (what the watcher must not take for the new one), or an Outcome when another change
        replaced ours meanwhile."""
        def step():
            service = engine.inspect_service(self.api, self.name)
            write = rest_write(self.rest, service)
            if isinstance(write, Outcome):
                return write
            execute.carry_out(self.api, [write], self.registry_auth, self.report)
            return (service.get("UpdateStatus") or {}).get("StartedAt")

        return execute.retried(step, self.report)

    # --- going back --------------------------------------------------------------------
    def _restore(self, failed, image, timeout):
        return self._go_back(failed.line(), image, timeout)

    def _restore_after_swarm(self, outcome, image, timeout):
        why = f"{outcome.reason}" + (f" ({outcome.update_message})"
                                     if outcome.update_message else "")
        return self._go_back(why, image, timeout, outcome)

    def _go_back(self, why, image, timeout, last=None):
        """Restore the release before; the deploy's Outcome: not ok, why, and what runs."""
        self.report(f"analysis failed: {why}; rolling back")
        if self.before is None:
            tasks = self._tasks()
            return Outcome(False, f"{why}; there is no release before this one to roll back "
                           "to (a new service): it was left running", running_image=serving(tasks))
        if self.previous is not None:
            self.rolled_back = apply.rollback(self.api, self.settings, self.registry_auth,
                                              self.report, timeout=timeout,
                                              to=f"#{self.previous.seq}")
            back = self.rolled_back.outcome
            target = (f"release #{self.previous.seq} (build "
                      f"{self.previous.build_number or '-'})")
            to_image = self.previous.image
        else:
            back = self._write_before(timeout)
            target, to_image = "the spec it ran before", image_of(self.before)
        if self.marker:
            self.marker("auto-rollback" if back.ok else "auto-rollback-failed", to_image,
                        f"#{self.previous.seq}" if self.previous else "")
        reason = f"{why}; rolled back to {target}"
        if not back.ok:
            reason += f", but the rollback did not end healthy: {back.reason}"
        outcome = Outcome(False, reason, back.update_state, "", back.running_image,
                          back.running, back.desired, (last.task_error if last else ""))
        outcome.rolled_back = back.ok
        return outcome

    def _write_before(self, timeout):
        """No recorded release: write back the spec the service had (as swarm's rollback)."""
        def step():
            service = engine.inspect_service(self.api, self.name)
            execute.carry_out(self.api, [UpdateService(service["ID"],
                                                       service["Version"]["Index"], self.before)],
                              self.registry_auth, self.report)
            return (service.get("UpdateStatus") or {}).get("StartedAt")

        since = execute.retried(step, self.report)
        return Watcher(self.api, self.name, self.report).wait(
            Expectation(image_of(self.before), Follow.UPDATE, since), timeout)

    def _tasks(self):
        service = engine.inspect_service(self.api, self.name)
        return engine.list_tasks(self.api, service["ID"]) if service else []

    def record(self):
        """The analysis part of the deploy's --json record."""
        out = self.judge.record()
        out["first_batch"] = self.batch
        out["rolled_back_to"] = (self.rolled_back.release.summary()
                                 if self.rolled_back and self.rolled_back.release else None)
        return out


# --- what the deploy and rollback stages call -------------------------------------------
def prepare(api, settings, environ, registry_auth, report, marker=None):
    """The Steps of a deploy of `settings`, or None when it has no analysis. The preflight
    runs here, before anything changes: Prometheus answers, every query parses and returns at
    most one series (else one UsageError naming the check)."""
    config = analysis.config(settings)
    if config is None:
        return None
    client = prometheus.Client(config.prometheus, environ)
    report(f"analysis: {len(config.checks)} check{'s' if len(config.checks) != 1 else ''} "
           f"against {config.prometheus}: canary {config.canary:g}s, bake {config.bake:g}s, "
           f"every {config.interval:g}s, failure limit {config.failure_limit}")
    prometheus.preflight(client, config.checks)
    return Steps(api, settings, analysis.Judge(config, client, report), registry_auth, report,
                 marker)


def marker(settings, environ, build, report):
    """mark(result, image, release) pushing a deploy marker, or None with no Pushgateway set
    (analysis.pushgateway or SHIPWAY_PUSHGATEWAY). `release`: a Release, "#N" or ""."""
    url = analysis.pushgateway(settings, environ)
    if not url:
        return None
    def mark(result, image, release=""):
        if hasattr(release, "seq"):
            release = f"#{release.seq}"
        problem = prometheus.push_marker(url, environ, settings["name"], release or "",
                                         image or "", build.number or "", result)
        report(f"deploy marker not pushed to {url}: {problem}" if problem
               else f"deploy marker pushed: {result} {release or ''}".rstrip())
    return mark
