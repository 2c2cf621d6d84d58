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
        no_data: fail       # fail | pass | wait: what an empty result means
        pushgateway: http://127.0.0.1:9091   # optional: deploy markers
        checks:
          - {name: success-rate, query: '...', min: 0.99}
"""
import math
import re
from urllib.parse import urlsplit

from pipeline.catalog.schema import walk
from pipeline.catalog.values import choice, duration, whole_number

NO_DATA = ("fail", "pass", "wait")
DEFAULTS = {"interval": 10.0, "failure_limit": 2, "canary": 60.0, "bake": 60.0,
            "no_data": "fail"}
_CHECK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


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


CHECK_SCHEMA = {"name": _check_name, "query": _query, "min": _number, "max": _number}


def _checks(value):
    """The list of checks: each a mapping with name, query and min and/or max."""
    if not isinstance(value, list) or not value:
        raise ValueError("must be a list of checks (name, query, min and/or max)")
    out, names = [], set()
    for index, item in enumerate(value):
        def fail(key, message, index=index):
            raise ValueError(f"check {index + 1}" + (f", {key}" if key else "") + f": {message}")

        check = walk(CHECK_SCHEMA, item, fail)
        for key in ("name", "query"):
            if key not in check:
                fail(key, "is required")
        if "min" not in check and "max" not in check:
            fail(None, f"{check['name']} needs min or max (the bound its value must keep)")
        if check.get("min", -math.inf) > check.get("max", math.inf):
            fail("min", "must not be above max")
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
    "canary": duration,
    "bake": duration,
    "no_data": choice(*NO_DATA),
    "checks": _checks,
}
