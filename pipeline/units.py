"""Parsing of small value types shared by the catalog and the command line."""
import re
from datetime import datetime, timezone

from pipeline.errors import UsageError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_FRACTION = re.compile(r"\.(\d+)")
_SCALE = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value):
    """Seconds (float) from `1m30s`, `500ms`, `2s` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration, e.g. 5s, 500ms, 1m30s")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return float(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number < 0:
            raise ValueError("a duration must not be negative")
        return number
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _SCALE[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (use e.g. 5s, 500ms, 1m30s)")
    return total


def to_nanos(seconds):
    """Engine API durations are integer nanoseconds."""
    return int(round(seconds * 1e9))


def parse_key_value(text, what):
    """`KEY=VALUE` from the command line (for --env, --label, --build-arg)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"{what} {text!r} is not KEY=VALUE", hint=f"write {what} NAME=value")
    return key, value


def parse_timestamp(text):
    """POSIX seconds (float) from an Engine API time (RFC 3339, nanoseconds, Z or an offset);
    None for an empty or zero time (0001-01-01...)."""
    if not text or text.startswith("0001-"):
        return None
    text = text.replace("Z", "+00:00")
    fraction = 0.0
    match = _FRACTION.search(text)
    if match:  # datetime takes 6 digits at most; the engine sends up to 9
        fraction = float("0." + match.group(1))
        text = text[:match.start()] + text[match.end():]
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() + fraction
