"""A small client of the Prometheus HTTP API (instant queries) and of a Pushgateway.

urllib only: a deploy that judges its release needs two GETs an interval, not a dependency.
Credentials come from the environment (never the catalog, never output):
SHIPWAY_PROMETHEUS_USER with SHIPWAY_PROMETHEUS_PASSWORD(_FILE) for basic auth, or
SHIPWAY_PROMETHEUS_TOKEN(_FILE) for a bearer token. The same apply to the Pushgateway.
"""
import base64
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request

from pipeline.errors import UsageError
from pipeline.neterrors import describe

TIMEOUT = 5.0


def _secret(environ, name):
    if environ.get(name):
        return environ[name]
    path = environ.get(name + "_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read {name}_FILE: {exc.strerror}",
                         hint="point it at a readable file holding only the secret") from None


def auth_header(environ):
    """The Authorization header the environment asks for, or None."""
    environ = environ or {}
    token = _secret(environ, "SHIPWAY_PROMETHEUS_TOKEN")
    if token:
        return f"Bearer {token}"
    user = environ.get("SHIPWAY_PROMETHEUS_USER")
    password = _secret(environ, "SHIPWAY_PROMETHEUS_PASSWORD")
    if (user is None) != (password is None):
        raise UsageError("Prometheus user and password must be given together",
                         hint="set SHIPWAY_PROMETHEUS_USER and SHIPWAY_PROMETHEUS_PASSWORD_FILE")
    if user is None:
        return None
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class QueryError(Exception):
    """A query that cannot be judged: unreachable, refused, not parsed, several series."""


def _parse_value(text):
    value = float(text)   # Prometheus sends "NaN", "+Inf", "-Inf" as strings too
    return value


def single_value(data):
    """The one number of an instant query's `data`, None for an empty result; QueryError for
    several series or a result that is not a number (pure: tested from recorded answers)."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _parse_value(result[1])
    if kind != "vector":
        raise QueryError(f"returns a {kind}, not one number (use an instant vector or scalar)")
    if not result:
        return None
    if len(result) > 1:
        labels = ", ".join("{" + ",".join(f'{k}="{v}"' for k, v in sorted(r["metric"].items()))
                           + "}" for r in result[:3])
        raise QueryError(f"returns {len(result)} series, not one ({labels}"
                         f"{', ...' if len(result) > 3 else ''}): aggregate it, e.g. sum(...)")
    return _parse_value(result[0]["value"][1])


class Client:
    """Instant queries against the Prometheus at `base` (its base URL)."""

    def __init__(self, base, environ=None, timeout=TIMEOUT):
        self.base = base.rstrip("/")
        self.timeout = timeout
        self._auth = auth_header(environ or {})

    def query(self, promql, at=None):
        """The `data` of GET /api/v1/query; QueryError for every way it can fail."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.base}/api/v1/query?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            detail = _error_of(body) or f"HTTP {exc.code} {exc.reason}"
            if exc.code in (401, 403):
                detail += " (check SHIPWAY_PROMETHEUS_USER/_PASSWORD_FILE or _TOKEN_FILE)"
            raise QueryError(detail) from None
        except (urllib.error.URLError, OSError) as exc:
            raise QueryError(f"Prometheus at {self.base} cannot be reached: "
                             f"{describe(exc)}") from None
        try:
            answer = json.loads(body)
        except ValueError:
            raise QueryError(f"{self.base} did not answer as a Prometheus API does "
                             "(no JSON): is this its base URL?") from None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise QueryError(_error_of(body) or "Prometheus did not answer success")
        return answer.get("data") or {}

    def value(self, promql):
        """(value or None, "") when the query gave a judgeable answer, else (None, error)."""
        try:
            return single_value(self.query(promql)), ""
        except QueryError as exc:
            return None, str(exc)


def _error_of(body):
    try:
        answer = json.loads(body)
    except (ValueError, TypeError):
        return ""
    if isinstance(answer, dict) and answer.get("error"):
        return f"{answer.get('errorType', 'error')}: {answer['error']}"
    return ""


def preflight(client, checks):
    """Before anything changes: Prometheus answers and every query parses and returns at most
    one series. One UsageError naming the first check that does not, with the fix."""
    for check in checks:
        try:
            single_value(client.query(check["query"]))
        except QueryError as exc:
            raise UsageError(f"analysis check {check['name']}: {exc}; nothing was changed",
                             hint="fix deploy.analysis in the catalog, or the Prometheus URL"
                             ) from None


def problems(client, checks):
    """preflight's findings as lines, without raising: for dry-run checks, whose problems
    never stop a deploy."""
    found = []
    for check in checks:
        try:
            single_value(client.query(check["query"]))
        except QueryError as exc:
            found.append(f"check {check['name']}: {exc}")
    return found


# --- deploy markers --------------------------------------------------------------------
def _label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def marker_text(service, release, image, build, result, at, reason="", dry_run=""):
    """The Pushgateway body: one sample of shipway_deploy_info, its value the time (POSIX
    seconds; the Pushgateway refuses sample timestamps, so the time is the value). `reason`:
    why (a failure, an automatic rollback, a pause); `dry_run`: what dry-run checks found."""
    labels = {"service": service, "release": release, "image": image, "build": build,
              "result": result, "reason": reason, "dry_run": dry_run}
    inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
    return ("# HELP shipway_deploy_info A deploy, rollback or automatic rollback by shipway; "
            "the value is when (unix seconds).\n"
            "# TYPE shipway_deploy_info gauge\n"
            f"shipway_deploy_info{{{inner}}} {at:.3f}\n")


def push_marker(base, environ, service, release, image, build, result, at=None,
                timeout=TIMEOUT, reason="", dry_run=""):
    """POST the marker to the Pushgateway at `base`, grouped by job=shipway, the service and
    the result: a push replaces only the last marker of that kind; Prometheus keeps the
    history, the value says when. One outcome, one marker (an automatic rollback is
    `auto-rollback` with its reason, not also `failed`).
    Returns "" when pushed, else why not (a marker never fails a deploy)."""
    at = time.time() if at is None else at
    if not math.isfinite(at):
        at = time.time()
    url = (f"{base.rstrip('/')}/metrics/job/shipway/service/"
           f"{urllib.parse.quote(service, safe='')}/result/{urllib.parse.quote(result, safe='')}")
    body = marker_text(service, release, image, build, result, at, reason, dry_run).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
    try:
        auth = auth_header(environ or {})
    except UsageError as exc:
        return str(exc)
    if auth:
        request.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:200].decode('utf-8', 'replace').strip()}"
    except (urllib.error.URLError, OSError) as exc:
        return f"cannot reach {base}: {describe(exc)}"
    return ""
