"""Releases judged by their traffic: a service's `deploy.analysis` (its keys are checked by
pipeline/catalog/analysis_keys.py) applied during a deploy.

Everything that decides is a pure function here (one check's verdict on one value, the tally
of failed and inconclusive evaluations, the schedule of a window); `Judge` runs a window
against a Prometheus (pipeline/prometheus.py) and, for HTTP checks, a prober
(pipeline/swarm/probe.py); pipeline/swarm/canary.py steps the rollout around the windows.

A verdict is pass, fail, inconclusive or wait (no data, no_data: wait). A check that failed
failure_limit times ends the analysis as failed; one inconclusive inconclusive_limit times
ends it as inconclusive (on_inconclusive decides what then). A dry-run check is evaluated and
recorded like the others and never counts.
"""
import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

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
    inconclusive_limit: int = DEFAULTS["failure_limit"]
    on_inconclusive: str = DEFAULTS["on_inconclusive"]
    pause_timeout: float = DEFAULTS["pause_timeout"]

    @property
    def http(self):
        """The HTTP checks (they need a prober)."""
        return tuple(c for c in self.checks if "http" in c)


def config(settings):
    """The service's analysis Config, or None when it has no checks (deploy as without).

    The cross-key rules live here, after catalog defaults were merged in: a service may take
    its Prometheus from `defaults:` and add only its own checks.
    """
    raw = (settings.get("deploy") or {}).get("analysis") or {}
    if not raw.get("checks"):
        return None
    if not raw.get("prometheus") and any("query" in c for c in raw["checks"]):
        raise UsageError(f"service {settings.get('name')}: deploy.analysis has PromQL checks "
                         "but no prometheus",
                         hint="set deploy.analysis.prometheus to its base URL")
    values = {"prometheus": "", **DEFAULTS,
              **{k: v for k, v in raw.items() if k != "checks"}}
    values.setdefault("inconclusive_limit", values["failure_limit"])
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
    """One check evaluated once. verdict: pass | fail | inconclusive | wait (no data,
    no_data: wait). before_start_s: in the bake, how far the check's rate window reached
    back before the window began (traffic of the old release may be in the value)."""

    check: str
    phase: str
    at: float                 # POSIX seconds
    verdict: str
    value: float = None
    reason: str = ""
    dry_run: bool = False
    before_start_s: Optional[float] = None

    def summary(self):
        """The evaluation for the --json record (its time to the millisecond)."""
        out = asdict(self)
        out["at"] = round(self.at, 3)
        if self.before_start_s is None:
            del out["before_start_s"]
        return out


def _g(number):
    return f"{number:g}"


def bound_text(check):
    """`min 0.99`, `max 0.05`, `min 0.9, max 1`, or with a band `min 0.99 (fail_min 0.95)`."""
    parts = []
    for key, outer in (("min", "fail_min"), ("max", "fail_max")):
        if key in check:
            parts.append(f"{key} {_g(check[key])}" + (f" ({outer} {_g(check[outer])})"
                                                      if outer in check else ""))
    return ", ".join(parts)


def _outside(check, value):
    """(verdict, reason) for a value outside min/max, or None when it is within."""
    for key, outer, beyond in (("min", "fail_min", lambda a, b: a < b),
                               ("max", "fail_max", lambda a, b: a > b)):
        side = "below" if key == "min" else "above"
        if key not in check or not beyond(value, check[key]):
            continue
        if outer not in check:
            return "fail", f"{_g(value)} is {side} {key} {_g(check[key])}"
        if beyond(value, check[outer]):
            return "fail", f"{_g(value)} is {side} {outer} {_g(check[outer])}"
        low, high = sorted(((key, check[key]), (outer, check[outer])), key=lambda kv: kv[1])
        return "inconclusive", (f"{_g(value)} is between {low[0]} {_g(low[1])} and "
                                f"{high[0]} {_g(high[1])}")
    return None


def judge(check, value, no_data, phase="", at=None, error=""):
    """The verdict on one result of PromQL `check`: `value` a float, None for an empty result
    (or NaN, which is what a ratio over no traffic gives), or `error` when the query failed
    (a failed query is a failed evaluation, never a silent pass). The check's own no_data, if
    any, is used over `no_data`."""
    at = time.time() if at is None else at
    name, dry = check["name"], bool(check.get("dry_run"))
    if error:
        return Evaluation(name, phase, at, "fail", None, error, dry)
    if value is None or math.isnan(value):
        no_data = check.get("no_data", no_data)
        return Evaluation(name, phase, at, no_data, None, f"no data (no_data: {no_data})", dry)
    outside = _outside(check, value)
    if outside is not None:
        return Evaluation(name, phase, at, outside[0], value, outside[1], dry)
    return Evaluation(name, phase, at, "pass", value, f"{_g(value)} within {bound_text(check)}",
                      dry)


def judge_http(check, failed, detail, no_data, phase="", at=None, error=""):
    """The verdict on one round of HTTP `check`'s requests: `failed` how many did not get
    the answer it expects (None: no task of the release to ask), `detail` what they got."""
    at = time.time() if at is None else at
    name, dry = check["name"], bool(check.get("dry_run"))
    if error:
        return Evaluation(name, phase, at, "fail", None, error, dry)
    if failed is None:
        no_data = check.get("no_data", no_data)
        return Evaluation(name, phase, at, no_data, None,
                          f"no task of the new release to ask (no_data: {no_data})", dry)
    return Evaluation(name, phase, at, "fail" if failed else "pass", float(failed), detail, dry)


@dataclass
class Tally:
    """Failed and inconclusive evaluations per check across the whole analysis (canary and
    bake); a dry-run check's are not counted."""

    limit: int
    inconclusive_limit: int = 0
    failed: dict = field(default_factory=dict)
    inconclusive: dict = field(default_factory=dict)

    def add(self, evaluation):
        """Count `evaluation`; the Evaluation that reached its limit, else None."""
        if evaluation.dry_run or evaluation.verdict not in ("fail", "inconclusive"):
            return None
        counts, limit = ((self.failed, self.limit) if evaluation.verdict == "fail"
                         else (self.inconclusive, self.inconclusive_limit or self.limit))
        counts[evaluation.check] = counts.get(evaluation.check, 0) + 1
        return evaluation if counts[evaluation.check] >= limit else None

    def count(self, evaluation):
        """How many evaluations of its check had its verdict."""
        counts = self.failed if evaluation.verdict == "fail" else self.inconclusive
        return counts.get(evaluation.check, 0)


def ticks(start, seconds, interval):
    """When a window from `start` lasting `seconds` is evaluated: every `interval` after the
    start, the last one at or just after its end (at least one evaluation)."""
    count = max(1, math.ceil(seconds / interval - 1e-9))
    return [start + interval * (i + 1) for i in range(count)]


class Ended(Exception):
    """A check reached its limit: `evaluation` is the one that did, `count` of them."""

    verdict = ""

    def __init__(self, evaluation, count):
        super().__init__(evaluation.reason)
        self.evaluation = evaluation
        self.count = count

    def line(self):
        """`check success-rate: 0.52 is below min 0.99 (2 failed evaluations, canary)`."""
        e = self.evaluation
        if e.check == "-":
            return f"analysis: {e.reason} ({e.phase})"
        word = "failed" if self.verdict == "fail" else self.verdict
        return (f"check {e.check}: {e.reason} ({self.count} {word} evaluation"
                f"{'s' if self.count != 1 else ''}, {e.phase})")


class Failed(Ended):
    """The analysis failed: the release is bad."""

    verdict = "fail"


class Inconclusive(Ended):
    """The analysis is inconclusive: on_inconclusive says what happens."""

    verdict = "inconclusive"

    def line(self):
        return "analysis inconclusive: " + super().line()


# --- rate windows -------------------------------------------------------------------------
_RANGE = re.compile(r"\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*(?::[^\]]*)?\]")
_UNIT = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
                 "y": 31536000}


def rate_window(query):
    """The longest range (`[10s]`, `[1m30s]`, a subquery's `[5m:1m]`) in PromQL `query`, in
    seconds; 0 when it has none."""
    longest = 0.0
    for match in _RANGE.finditer(query or ""):
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _UNIT.findall(match.group(1)))
        longest = max(longest, seconds)
    return longest


# --- judging windows ----------------------------------------------------------------------
class Judge:
    """Evaluates the checks of `config` in windows: PromQL ones through `client` (a
    prometheus.Client), HTTP ones through `prober` (a probe.Prober, or None without them).

    Every evaluation lands in `evaluations` (for the --json record); `report` gets one line
    per evaluation. `sleep` and `now` are injectable for the unit tests.
    """

    def __init__(self, config, client, report, sleep=time.sleep, now=time.time, prober=None):
        self.config = config
        self.client = client
        self.prober = prober
        self.report = report
        self.sleep = sleep
        self.now = now
        self.tally = Tally(config.failure_limit, config.inconclusive_limit)
        self.evaluations = []
        self.windows = []

    def _evaluate_one(self, check, phase):
        if "http" in check:
            failed, detail, error = self.prober.measure(check)
            return judge_http(check, failed, detail, self.config.no_data, phase, self.now(),
                              error)
        value, error = self.client.value(check["query"])
        return judge(check, value, self.config.no_data, phase, self.now(), error)

    def evaluate(self, phase, start=None):
        """Each check once; raises Failed when one reaches failure_limit, else Inconclusive
        when one reaches inconclusive_limit. Returns whether every deciding check had data
        (False: some said no data, and no_data is wait). `start`: when the window began,
        to say how far a rate window reaches before it (the bake)."""
        complete, ended = True, []
        for check in self.config.checks:
            evaluation = self._evaluate_one(check, phase)
            reach = rate_window(check.get("query")) - (evaluation.at - start) \
                if start is not None else 0
            if reach > 0:
                evaluation.before_start_s = round(reach, 3)
            self.evaluations.append(evaluation)
            self.report(self._line(phase, evaluation))
            complete = complete and (evaluation.verdict != "wait" or evaluation.dry_run)
            reached = self.tally.add(evaluation)
            if reached is not None:
                kind = Failed if reached.verdict == "fail" else Inconclusive
                ended.append(kind(reached, self.tally.count(reached)))
        for kind in (Failed, Inconclusive):
            for end in ended:
                if isinstance(end, kind):
                    raise end
        return complete

    @staticmethod
    def _line(phase, e):
        line = f"analysis {phase}: {e.check} {e.verdict}: {e.reason}"
        if e.before_start_s is not None:
            line += (f" (its rate window reaches {e.before_start_s:g}s before the {phase} "
                     "began)")
        return line + (" (dry run: never decides)" if e.dry_run else "")

    def window(self, phase, seconds, deadline, since_start=False):
        """Judge for `seconds` (every interval); with no_data wait, go on past the end until
        one round has data for every check, bounded by `deadline` (time.time()). Raises
        Failed or Inconclusive. since_start: say when a check's rate window reaches back
        before the window began (the bake: it begins when the old release stopped)."""
        start = self.now()
        self.report(f"analysis: {phase} window, {seconds:g}s, a check every "
                    f"{self.config.interval:g}s")
        schedule = ticks(start, seconds, self.config.interval)
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
            complete = self.evaluate(phase, start if since_start else None)
            if not schedule and complete:
                break
        self.windows.append({"phase": phase, "seconds": round(self.now() - start, 3)})

    def forgive_inconclusive(self):
        """Start the inconclusive counts again (on_inconclusive: continue goes on judging)."""
        self.tally.inconclusive.clear()

    def dry_run_findings(self):
        """'p99: 3 of 8 evaluations failed' for each dry-run check that did not always pass."""
        found = []
        for check in self.config.checks:
            if not check.get("dry_run"):
                continue
            mine = [e for e in self.evaluations if e.check == check["name"]]
            for verdict in ("fail", "inconclusive"):
                count = sum(1 for e in mine if e.verdict == verdict)
                if count:
                    word = "failed" if verdict == "fail" else verdict
                    found.append(f"{check['name']}: {count} of {len(mine)} evaluations {word}")
        return found

    def record(self):
        """The JSON part of the deploy record."""
        c = self.config
        return {"checks": [dict(check) for check in c.checks], "interval": c.interval,
                "failure_limit": c.failure_limit, "inconclusive_limit": c.inconclusive_limit,
                "on_inconclusive": c.on_inconclusive, "canary": c.canary, "bake": c.bake,
                "no_data": c.no_data, "windows": self.windows,
                "dry_run_findings": self.dry_run_findings(),
                "evaluations": [e.summary() for e in self.evaluations]}


# --- what a deploy says before it judges --------------------------------------------------
def schedule_lines(config):
    """The lines the dry run and the start of a deploy print: the windows, the interval, the
    limits, the worst-case time to a verdict, and each check with its rate window (one
    longer than the time since the bake began counts the old release's traffic too)."""
    c = config
    after = c.interval * c.failure_limit + c.interval
    judged = sum(w + c.interval for w in (c.canary, c.bake) if w > 0)
    lines = [f"analysis: canary {c.canary:g}s, bake {c.bake:g}s (from when no container of "
             f"the old release runs), each check every {c.interval:g}s; a check that fails "
             f"{c.failure_limit} time{'s' if c.failure_limit != 1 else ''} rolls back, at most "
             f"{after:g}s after it starts failing (interval x failure_limit + one interval); "
             f"{c.inconclusive_limit} inconclusive: {c.on_inconclusive}; a good release is "
             f"judged after at most {judged:g}s"]
    for check in c.checks:
        lines.append("analysis: " + _check_line(check, c))
    return lines


def _check_line(check, c):
    """One check as the schedule says it."""
    tail = " (dry run: never decides)" if check.get("dry_run") else ""
    if "http" in check:
        h = check["http"]
        expect = f"{h['expect_status']}" + (f" with {h['body_contains']!r}"
                                            if "body_contains" in h else "")
        return (f"check {check['name']}: HTTP GET {h['path']} on port {h['port']} of each "
                f"task of the new release, {h['requests']} request"
                f"{'s' if h['requests'] != 1 else ''} each, expecting {expect}{tail}")
    window = rate_window(check["query"])
    text = f"check {check['name']}: {bound_text(check)}"
    if window:
        text += f", rate window {window:g}s"
        if c.bake > 0 and window > c.interval:
            late = [t for t in ticks(0, c.bake, c.interval) if t < window]
            text += (f": the bake's first {len(late)} evaluation{'s' if len(late) != 1 else ''}"
                     f" (until {window:g}s after the old release stopped) count traffic from "
                     "before too" if len(late) < len(ticks(0, c.bake, c.interval)) else
                     f", longer than the bake ({c.bake:g}s): every bake evaluation counts "
                     "traffic from before the old release stopped")
    return text + tail
