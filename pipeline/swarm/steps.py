"""A rollout judged by analysis, carried out: first batch -> canary -> the rest -> bake.

`Steps` waits and judges around the writes pipeline/swarm/canary.py plans: the first batch
healthy, the canary window, the second write (the rest), then, once no container of the old
release runs any more, the bake window, and swarm's own verdict after it. The end of a window
(analysis.Failed / Inconclusive) is decided here: a failure restores the release before (the
same restore as `shipway rollback`); an inconclusive analysis rolls back, goes on, or pauses
as `on_inconclusive` says. A paused update stays as it is (swarm holds the rest: see
canary.hold_seconds) and `resume` finishes it later (`shipway continue`).
"""
import copy
import time

from pipeline import analysis, prometheus
from pipeline.analysis import Failed
from pipeline.api import engine
from pipeline.swarm import apply, canary, execute, probe
from pipeline.swarm import releases as history
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.judge import POLL_SECONDS, Outcome
from pipeline.swarm.replicas import runs, serving
from pipeline.swarm.spec import digest_of, image_of, task_image
from pipeline.swarm.watch import Watcher
from pipeline.swarm.writes import UpdateService

SWARM_GAVE_UP = ("paused", "rollback_started", "rollback_completed", "rollback_paused")


class Steps:
    """The deploy's analysis: `apply.deploy` plans the first write with `first`, calls
    `start(...)` once it is written and `wait(...)` instead of `watcher.wait(...)`;
    `shipway continue` calls `resume(...)`.

    judge: an analysis.Judge. marker(result, image, release, reason): a deploy marker, or
    None. prober: the probe.Prober of the HTTP checks (closed when the steps end), or None.
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
        self.marked = False       # an automatic rollback pushed its own marker
        self.batch = None
        self.rest = None          # writes.ReleaseRest: the second write the plan made
        self.before = None        # the spec before the deploy (None: a create)
        self.previous = None      # the recorded release it ran, if any
        self.rolled_back = None   # apply.Result of the automatic rollback
        self.rollback_at = None   # when it began (time.time(): its read, then its write)
        self.inconclusive = []    # the lines of inconclusive windows gone on from

    def start(self, current, releases, plan):
        """Keep what the steps after the first write need: the spec before (None: a
        create), the release it was, the user's UpdateConfig, the first batch."""
        if self.judge.prober is not None:
            self.judge.prober.start(plan.spec or (current or {}).get("Spec"))
        if current is None:
            return
        self.before = copy.deepcopy(current["Spec"])
        self.previous = history.running_release(releases, current["Spec"])
        self.rest = plan.then[0] if plan.then else None
        self.batch = plan.batch

    def first(self, plan, timeout):
        """The plan with its first write as the analysis makes it (canary.first_write)."""
        return canary.first_write(plan, self.config, timeout)

    def close(self):
        """Remove what the steps made to judge with (the HTTP checks' probe)."""
        if self.judge.prober is not None:
            self.judge.prober.close()

    # --- the steps ---------------------------------------------------------------------
    def wait(self, watcher, expectation, timeout):
        """Roll out in steps and judge; the Outcome of the whole deploy (after a failed
        check: not ok, naming the check, after the release before was restored; paused:
        not ok, `paused` naming the window)."""
        image, since = expectation.image, expectation.since
        # `timeout` bounds each convergence (the first batch, the rest, a rollback), as it
        # bounds the one of a plain deploy; the windows come on top.
        if self.batch is None:
            outcome = watcher.wait(expectation, timeout)
            if not outcome.ok:
                return outcome
            # every task runs the release and no old container does: both windows now
            for phase, seconds in (("canary", self.config.canary), ("bake", self.config.bake)):
                stop = self._window(phase, seconds, image, timeout, phase == "canary")
                if stop is not None:
                    return stop
            return self._passed(outcome)
        outcome = self._wait_healthy(watcher, image, timeout, since, self.batch, "first batch")
        if outcome is not None:
            return outcome     # swarm itself gave up on the first batch (or timed out)
        stop = self._window("canary", self.config.canary, image, timeout)
        if stop is not None:
            return stop
        return self._rest_and_bake(watcher, image, since, timeout)

    def resume(self, watcher, service, releases, approved_by, timeout):
        """`shipway continue` of the update `service` runs (paused by an inconclusive
        analysis, or left by a deploy that stopped): the rest when the update still holds
        it, then the bake and swarm's verdict, as the deploy would have. The release before
        is the one the update started from (swarm's PreviousSpec names it), else what
        `shipway rollback` would go to."""
        image = image_of(service["Spec"])
        self.previous = history.running_release(releases, service.get("PreviousSpec")) or \
            history.choose(releases, None, None, digest_of(image))
        self.before = copy.deepcopy(self.previous.spec) if self.previous else None
        if self.judge.prober is not None:
            self.judge.prober.start(service["Spec"])
        self.rest = canary.held_rest(service, approved_by,
                                     done="analysis: continued; updating the rest")
        if self.rest is not None:
            since = (service.get("UpdateStatus") or {}).get("StartedAt")
            return self._rest_and_bake(watcher, image, since, timeout)
        return self._bake(watcher, image, None, timeout)

    def _rest_and_bake(self, watcher, image, since, timeout):
        first_started = self._write_rest()
        if isinstance(first_started, Outcome):
            # swarm rolled the first batch back by itself meanwhile, or someone else changed
            # the service: the watcher names which
            return watcher.wait(Expectation(image, Follow.UPDATE, since), 5.0)
        return self._bake(watcher, image, first_started, timeout)

    def _bake(self, watcher, image, since, timeout):
        """The bake window from the moment only the release serves (every task runs it
        healthy and no container of the old release runs any more), then swarm's verdict
        (its monitor period ran during the window)."""
        outcome = watcher.wait(Expectation(image, Follow.UPDATE, since, served=True), timeout)
        if outcome.ok:
            stop = self._window("bake", self.config.bake, image, timeout, True)
            if stop is not None:
                return stop
            outcome = watcher.wait(Expectation(image, Follow.UPDATE, since), timeout)
            if outcome.ok:
                return self._passed(outcome)
        if outcome.running_image == image or outcome.update_state.startswith("rollback"):
            return self._restore_after_swarm(outcome, image, timeout)
        return outcome

    def _passed(self, outcome):
        outcome.reason += "; analysis passed" if not self.inconclusive else \
            "; " + "; ".join(self.inconclusive)
        return outcome

    def _window(self, phase, seconds, image, timeout, since_start=False):
        """None when the window passed (a window of 0s is not judged), or went on after an
        inconclusive end (on_inconclusive: continue); else the deploy's Outcome: rolled back
        or paused. With no_data wait it may run on past its end, by `timeout` at most."""
        if seconds <= 0:
            return None
        deadline = time.time() + seconds + timeout
        try:
            self.judge.window(phase, seconds, deadline, since_start)
        except Failed as failed:
            return self._go_back(failed.line(), image, timeout)
        except analysis.Inconclusive as ended:
            return self._inconclusive(ended, phase, image, timeout)
        return None

    def _inconclusive(self, ended, phase, image, timeout):
        what = self.config.on_inconclusive
        if what == "rollback":
            return self._go_back(ended.line(), image, timeout)
        if what == "continue":
            line = f"{ended.line()}: went on (on_inconclusive: continue)"
            self.report(line)
            self.inconclusive.append(line)
            self.judge.forgive_inconclusive()
            return None
        tasks = self._tasks()
        running = sum(1 for t in tasks if t.get("DesiredState") == "running"
                      and runs(t) and task_image(t) == image)
        self.report(f"{ended.line()}: the update stays as it is, paused "
                    "(on_inconclusive: pause)")
        if self.marker:
            self.marker("paused", image, "", ended.line())
            self.marked = True
        return Outcome(False, ended.line(), running_image=serving(tasks), running=running,
                       desired=len({t.get("Slot") for t in tasks
                                    if t.get("DesiredState") == "running"}),
                       paused=phase)

    def _wait_healthy(self, watcher, image, timeout, since, count, what):
        """Until `count` tasks run `image` healthy: None then; else the watcher's Outcome of
        what swarm did instead (paused, rolled back, timed out, replaced)."""
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
                       and runs(t) and task_image(t) == image}
            if len(healthy) != seen:
                seen = len(healthy)
                self.report(f"analysis: {what}: {seen}/{count} tasks of the new release healthy")
            if len(healthy) >= count:
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
        """The second write, at the version read now; the first update's StartedAt (what
        the watcher must not take for the new one), or an Outcome when another change
        replaced ours meanwhile."""
        def step():
            service = engine.inspect_service(self.api, self.name)
            write = canary.rest_write(self.rest, service)
            if isinstance(write, Outcome):
                return write
            execute.carry_out(self.api, [write], self.registry_auth, self.report)
            return (service.get("UpdateStatus") or {}).get("StartedAt")

        return execute.retried(step, self.report)

    # --- going back --------------------------------------------------------------------
    def _restore_after_swarm(self, outcome, image, timeout):
        why = f"{outcome.reason}" + (f" ({outcome.update_message})"
                                     if outcome.update_message else "")
        return self._go_back(why, image, timeout, outcome)

    def _go_back(self, why, image, timeout, last=None):
        """Restore the release before; the deploy's Outcome: not ok, why, and what runs.
        One marker says so: `auto-rollback` with `why` (or `auto-rollback-failed`)."""
        self.report(f"analysis failed: {why}; rolling back")
        if self.before is None:
            tasks = self._tasks()
            return Outcome(False, f"{why}; there is no release before this one to roll back "
                           "to (a new service): it was left running", running_image=serving(tasks))
        self.rollback_at = time.time()
        if self.previous is not None:
            self.rolled_back = apply.rollback(self.api, self.settings, self.registry_auth,
                                              self.report, timeout=timeout,
                                              to=f"#{self.previous.seq}")
            back = self.rolled_back.outcome
            build = (f" (build {self.previous.build_number})"
                     if self.previous.build_number else "")
            target = f"release #{self.previous.seq}{build}"
            to_image = self.previous.image
        else:
            back = self._write_before(timeout)
            target, to_image = "the spec it ran before", image_of(self.before)
        if self.marker:
            self.marker("auto-rollback" if back.ok else "auto-rollback-failed", to_image,
                        f"#{self.previous.seq}" if self.previous else "", why)
            self.marked = True
        reason = f"{why}; rolled back to {target}"
        if not back.ok:
            reason += f", but the rollback did not end healthy: {back.reason}"
        return Outcome(False, reason, back.update_state, "", back.running_image,
                       back.running, back.desired, (last.task_error if last else ""),
                       rolled_back=back.ok)

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
        out["rollback_at"] = round(self.rollback_at, 3) if self.rollback_at else None
        return out


# --- what the deploy, continue and rollback stages call ---------------------------------
def prepare(api, settings, environ, registry_auth, report, marker=None):
    """The Steps of a deploy of `settings`, or None when it has no analysis. The preflight
    runs here, before anything changes: Prometheus answers, every deciding query parses and
    returns at most one series (else one UsageError naming the check), HTTP checks have a
    static busybox for their probe; a dry-run check's problem is a line. The schedule is
    said first: windows, interval, limits, the worst-case time to a verdict, each check's
    rate window."""
    config = analysis.config(settings)
    if config is None:
        return None
    prober = None
    if config.http:
        timeout = settings["deploy"]["timeout"]
        # the probe lives as long as the longest deploy could: the hold, the bake, waits
        lifetime = canary.hold_seconds(config, timeout) + config.bake + 2 * timeout + 600
        prober = probe.prober(api, settings, environ, report, lifetime)
    client = prometheus.Client(config.prometheus, environ) if config.prometheus else None
    report(f"analysis: {len(config.checks)} check{'s' if len(config.checks) != 1 else ''}"
           + (f" against {config.prometheus}" if config.prometheus else ""))
    for line in analysis.schedule_lines(config):
        report(line)
    promql = [c for c in config.checks if "query" in c]
    prometheus.preflight(client, [c for c in promql if not c.get("dry_run")])
    for problem in prometheus.problems(client, [c for c in promql if c.get("dry_run")]):
        report(f"analysis: {problem} (a dry-run check: the deploy goes on)")
    return Steps(api, settings, analysis.Judge(config, client, report, prober=prober),
                 registry_auth, report, marker)


def marker(settings, environ, build, report):
    """mark(result, image, release, reason) pushing a deploy marker, or None with no
    Pushgateway set (analysis.pushgateway or SHIPWAY_PUSHGATEWAY). `release`: a Release, "#N"
    or ""; `reason`: why (a failure, an automatic rollback, a pause), one line."""
    url = analysis.pushgateway(settings, environ)
    if not url:
        return None

    def mark(result, image, release="", reason="", dry_run=""):
        if hasattr(release, "seq"):
            release = f"#{release.seq}"
        problem = prometheus.push_marker(url, environ, settings["name"], release or "",
                                         image or "", build.number or "", result,
                                         reason=reason, dry_run=dry_run)
        report(f"deploy marker not pushed to {url}: {problem}" if problem
               else f"deploy marker pushed: {result} {release or ''}".rstrip())
    return mark
