"""The catalog's `deploy.analysis`: releases judged by their traffic (format in
docs/catalog.md). The keys and their checks, and the defaults; the walker takes
ANALYSIS_SCHEMA as the rule of `deploy.analysis` (keys.RUN_SCHEMA). Judging a release
during a deploy is pipeline/analysis.py's, which reads what is checked here.

    deploy:
      analysis:
        prometheus: http://127.0.0.1:9090    # credentials, if any, from the environment
        interval: 2s        # how often each check is evaluated
        failure_limit: 2    # failed evaluations of one check before the release is judged bad
        canary: 20s         # judged after the first batch, before the rest
        bake: 30s           # judged after the last batch, before deploy says ok
        no_data: fail       # fail | pass | wait | inconclusive: what an empty result means
        inconclusive_limit: 2   # inconclusive evaluations of one check that end the analysis
        on_inconclusive: pause  # rollback (default) | continue | pause
        pause_timeout: 1h   # how long a paused update is held (the Jenkinsfile's input too)
        pushgateway: http://127.0.0.1:9091   # optional: deploy markers
        checks:
          - {name: success-rate, query: '...', min: 0.99, fail_min: 0.95}
          - {name: smoke, http: {path: /api/orders, expect_status: 200, port: 8080}}
          - {name: p99, query: '...', max: 0.5, dry_run: true}   # judged, never decides

A PromQL check passes within min/max; with fail_min/fail_max, a value between the two bounds
is inconclusive, beyond fail_min/fail_max it fails. An HTTP check (pipeline/swarm/probe.py)
sends its requests to each task of the new release.
"""
import math
import re
from urllib.parse import urlsplit

from pipeline.catalog.schema import walk
from pipeline.catalog.values import boolean, choice, duration, whole_number

NO_DATA = ("fail", "pass", "wait", "inconclusive")
ON_INCONCLUSIVE = ("rollback", "continue", "pause")
# inconclusive_limit defaults to the failure_limit given (analysis.config)
DEFAULTS = {"interval": 10.0, "failure_limit": 2, "canary": 60.0, "bake": 60.0,
            "no_data": "fail", "on_inconclusive": "rollback", "pause_timeout": 3600.0}
HTTP_DEFAULTS = {"expect_status": 200, "requests": 1, "port": 80}
_CHECK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# a request path: what an HTTP request line carries without escaping (RFC 3986 characters)
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,1023}$")


def check_url(value):
    """A Prometheus or Pushgateway base URL: http(s), a host, no credentials; without the
    trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a URL like http://127.0.0.1:9090")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL (got {value!r})")
    if parts.username or parts.password:
        # A password in the catalog ends up in job configs and logs.
        raise ValueError("must not carry credentials: set SHIPWAY_PROMETHEUS_USER and "
                         "SHIPWAY_PROMETHEUS_PASSWORD_FILE (or _TOKEN_FILE) instead")
    return value.strip().rstrip("/")


def _positive_duration(value):
    seconds = duration(value)
    if seconds <= 0:
        raise ValueError("must be more than 0s")
    return seconds


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("must be a number")
    return float(value)


def _check_name(value):
    if not isinstance(value, str) or not _CHECK_NAME.match(value):
        raise ValueError("must be letters, digits and ._- (max 63), e.g. success-rate")
    return value


def _query(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a PromQL expression returning one number")
    return value.strip()


def _path(value):
    if not isinstance(value, str) or not _PATH.match(value):
        raise ValueError("must be a request path starting with /, e.g. /api/health "
                         "(letters, digits and -._~!$&'()*+,;=:@%/? only)")
    return value


def _text(value):
    if not isinstance(value, str) or not value or len(value) > 1024 or "\n" in value:
        raise ValueError("must be text of one line (1-1024 characters)")
    return value


HTTP_SCHEMA = {"path": _path, "expect_status": whole_number(100, 599),
               "body_contains": _text, "requests": whole_number(1, 100),
               "port": whole_number(1, 65535)}
BOUNDS = ("min", "max", "fail_min", "fail_max")
CHECK_SCHEMA = {"name": _check_name, "query": _query, "http": HTTP_SCHEMA,
                **{key: _number for key in BOUNDS}, "no_data": choice(*NO_DATA),
                "dry_run": boolean}


def _bounds(check, fail):
    """A PromQL check's bounds: min and/or max; fail_min below min, fail_max above max."""
    for outer, inner in (("fail_min", "min"), ("fail_max", "max")):
        if outer in check and inner not in check:
            fail(outer, f"needs {inner} (between {outer} and {inner} a value is inconclusive)")
    if "min" not in check and "max" not in check:
        fail(None, f"{check['name']} needs min or max (the bound its value must keep)")
    if check.get("min", -math.inf) > check.get("max", math.inf):
        fail("min", "must not be above max")
    if check.get("fail_min", -math.inf) > check.get("min", math.inf):
        fail("fail_min", "must not be above min")
    if check.get("fail_max", math.inf) < check.get("max", -math.inf):
        fail("fail_max", "must not be below max")


def _check(item, fail):
    """One check: name, and query with its bounds, or http with its request."""
    check = walk(CHECK_SCHEMA, item, fail)
    if "name" not in check:
        fail("name", "is required")
    if ("query" in check) == ("http" in check):
        fail(None, f"{check['name']} needs query (PromQL) or http (a request), one of them")
    if "http" in check:
        stray = [key for key in BOUNDS if key in check]
        if stray:
            fail(stray[0], "is for PromQL checks: an HTTP check passes when every request "
                 "gets expect_status (and body_contains)")
        if "path" not in check["http"]:
            fail("http.path", "is required")
        check["http"] = {**HTTP_DEFAULTS, **check["http"]}
    else:
        _bounds(check, fail)
    return check


def _checks(value):
    """The list of checks: each a mapping with a name and a query with min and/or max (and
    fail_min/fail_max), or an http request."""
    if not isinstance(value, list) or not value:
        raise ValueError("must be a list of checks (name, query, min and/or max)")
    out, names = [], set()
    for index, item in enumerate(value):
        def fail(key, message, index=index):
            raise ValueError(f"check {index + 1}" + (f", {key}" if key else "") + f": {message}")

        check = _check(item, fail)
        if check["name"] in names:
            fail("name", f"{check['name']!r} is used twice")
        names.add(check["name"])
        out.append(check)
    return out


ANALYSIS_SCHEMA = {
    "prometheus": check_url,
    "pushgateway": check_url,
    "interval": _positive_duration,
    "failure_limit": whole_number(1),
    "inconclusive_limit": whole_number(1),
    "on_inconclusive": choice(*ON_INCONCLUSIVE),
    "pause_timeout": _positive_duration,
    "canary": duration,
    "bake": duration,
    "no_data": choice(*NO_DATA),
    "checks": _checks,
}
