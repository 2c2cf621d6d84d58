"""Releases judged by their traffic: a service's `deploy.analysis` (its keys are checked by
pipeline/catalog/analysis_keys.py) applied during a deploy.

Everything that decides is a pure function here (one check's verdict on one value, the tally
of failed evaluations, the schedule of a window); `Judge` runs a window against a Prometheus
(pipeline/prometheus.py) and pipeline/swarm/canary.py steps the rollout around the windows.
"""
import math
import time
from dataclasses import asdict, dataclass, field

from pipeline.catalog.analysis_keys import DEFAULTS, check_url
from pipeline.errors import UsageError


@dataclass(frozen=True)
class Config:
    """A service's analysis with its defaults applied."""

    prometheus: str
    checks: tuple
    interval: float = DEFAULTS["interval"]
    failure_limit: int = DEFAULTS["failure_limit"]
    canary: float = DEFAULTS["canary"]
    bake: float = DEFAULTS["bake"]
    no_data: str = DEFAULTS["no_data"]
    pushgateway: str = ""


def config(settings):
    """The service's analysis Config, or None when it has no checks (deploy as without).

    The cross-key rules live here, after catalog defaults were merged in: a service may take
    its Prometheus from `defaults:` and add only its own checks.
    """
    raw = (settings.get("deploy") or {}).get("analysis") or {}
    if not raw.get("checks"):
        return None
    if not raw.get("prometheus"):
        raise UsageError(f"service {settings.get('name')}: deploy.analysis has checks but no "
                         "prometheus", hint="set deploy.analysis.prometheus to its base URL")
    values = {**DEFAULTS, **{k: v for k, v in raw.items() if k != "checks"}}
    return Config(checks=tuple(raw["checks"]), **values)


def pushgateway(settings, environ):
    """The Pushgateway deploy markers go to: analysis.pushgateway, else SHIPWAY_PUSHGATEWAY."""
    raw = (settings.get("deploy") or {}).get("analysis") or {}
    url = raw.get("pushgateway") or (environ or {}).get("SHIPWAY_PUSHGATEWAY", "")
    if url and not raw.get("pushgateway"):
        try:
            url = check_url(url)
        except ValueError as exc:
            raise UsageError(f"SHIPWAY_PUSHGATEWAY {exc}") from None
    return url


# --- one evaluation -----------------------------------------------------------------------
@dataclass
class Evaluation:
    """One check evaluated once. verdict: pass | fail | wait (no data, no_data: wait)."""

    check: str
    phase: str
    at: float                 # POSIX seconds
    verdict: str
    value: float = None
    reason: str = ""

    def summary(self):
        """The evaluation for the --json record (its time to the millisecond)."""
        out = asdict(self)
        out["at"] = round(self.at, 3)
        return out


def bound_text(check):
    """`min 0.99`, `max 0.05` or `min 0.9, max 1`."""
    parts = [f"{key} {check[key]:g}" for key in ("min", "max") if key in check]
    return ", ".join(parts)


def judge(check, value, no_data, phase="", at=None, error=""):
    """The verdict on one result of `check`: `value` a float, None for an empty result (or
    NaN, which is what a ratio over no traffic gives), or `error` when the query failed (a
    failed query is a failed evaluation, never a silent pass)."""
    at = time.time() if at is None else at
    name = check["name"]
    if error:
        return Evaluation(name, phase, at, "fail", None, error)
    if value is None or math.isnan(value):
        verdict = {"fail": "fail", "pass": "pass", "wait": "wait"}[no_data]
        return Evaluation(name, phase, at, verdict, None, f"no data (no_data: {no_data})")
    if "min" in check and value < check["min"]:
        return Evaluation(name, phase, at, "fail", value,
                          f"{value:g} is below min {check['min']:g}")
    if "max" in check and value > check["max"]:
        return Evaluation(name, phase, at, "fail", value,
                          f"{value:g} is above max {check['max']:g}")
    return Evaluation(name, phase, at, "pass", value, f"{value:g} within {bound_text(check)}")


@dataclass
class Tally:
    """Failed evaluations per check across the whole analysis (canary and bake)."""

    limit: int
    failed: dict = field(default_factory=dict)

    def add(self, evaluation):
        """Count `evaluation`; the Evaluation that reached the limit, else None."""
        if evaluation.verdict != "fail":
            return None
        count = self.failed.get(evaluation.check, 0) + 1
        self.failed[evaluation.check] = count
        return evaluation if count >= self.limit else None


def ticks(start, seconds, interval):
    """When a window from `start` lasting `seconds` is evaluated: every `interval` after the
    start, the last one at or just after its end (at least one evaluation)."""
    count = max(1, math.ceil(seconds / interval - 1e-9))
    return [start + interval * (i + 1) for i in range(count)]


class Failed(Exception):
    """A check reached failure_limit: `evaluation` is the one that did."""

    def __init__(self, evaluation, count):
        super().__init__(evaluation.reason)
        self.evaluation = evaluation
        self.count = count

    def line(self):
        """`check success-rate: 0.52 is below min 0.99 (2 failed evaluations, canary)`."""
        e = self.evaluation
        if e.check == "-":
            return f"analysis: {e.reason} ({e.phase})"
        return (f"check {e.check}: {e.reason} ({self.count} failed evaluation"
                f"{'s' if self.count != 1 else ''}, {e.phase})")


class Judge:
    """Evaluates the checks of `config` through `client` (a prometheus.Client) in windows.

    Every evaluation lands in `evaluations` (for the --json record); `report` gets one line
    per evaluation. `sleep` and `now` are injectable for the unit tests.
    """

    def __init__(self, config, client, report, sleep=time.sleep, now=time.time):
        self.config = config
        self.client = client
        self.report = report
        self.sleep = sleep
        self.now = now
        self.tally = Tally(config.failure_limit)
        self.evaluations = []
        self.windows = []

    def evaluate(self, phase):
        """Each check once; raises Failed when one reaches failure_limit. Returns whether
        every check had data (False: some said no data, and no_data is wait)."""
        complete = True
        for check in self.config.checks:
            value, error = self.client.value(check["query"])
            evaluation = judge(check, value, self.config.no_data, phase, self.now(), error)
            self.evaluations.append(evaluation)
            self.report(f"analysis {phase}: {check['name']} {evaluation.verdict}: "
                        f"{evaluation.reason}")
            complete = complete and evaluation.verdict != "wait"
            reached = self.tally.add(evaluation)
            if reached is not None:
                raise Failed(reached, self.tally.failed[reached.check])
        return complete

    def window(self, phase, seconds, deadline):
        """Judge for `seconds` (every interval); with no_data wait, go on past the end until
        one round has data for every check, bounded by `deadline` (time.time()). Raises Failed."""
        start = self.now()
        self.report(f"analysis: {phase} window, {seconds:g}s, a check every "
                    f"{self.config.interval:g}s")
        schedule = ticks(start, seconds, self.config.interval)
        complete = False
        while True:
            due = schedule.pop(0) if schedule else self.now() + self.config.interval
            if due > deadline:
                evaluation = Evaluation("-", phase, self.now(), "fail", None,
                                        "no data for every check before the deploy timeout")
                self.evaluations.append(evaluation)
                raise Failed(evaluation, 1)
            pause = due - self.now()
            if pause > 0:
                self.sleep(pause)
            complete = self.evaluate(phase)
            if not schedule and complete:
                break
        self.windows.append({"phase": phase, "seconds": round(self.now() - start, 3)})

    def record(self):
        """The JSON part of the deploy record."""
        return {"checks": [dict(c) for c in self.config.checks],
                "interval": self.config.interval, "failure_limit": self.config.failure_limit,
                "canary": self.config.canary, "bake": self.config.bake,
                "no_data": self.config.no_data, "windows": self.windows,
                "evaluations": [e.summary() for e in self.evaluations]}
