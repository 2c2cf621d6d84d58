"""Value checks shared by the catalog's schemas (shipway's own keys, deploy.analysis, the
stack-file keys): each takes what YAML read and returns the canonical form, or raises
ValueError saying what is wrong; the walker (schema.walk) names the file, service and key."""
import decimal
import math
import re
import shlex

from pipeline.units import parse_duration

MAX_COUNT = 2 ** 31 - 1   # counts beyond this are mistakes (and overflow a Java int)
MAX_SECONDS = (2 ** 63 - 1) / 1e9   # the Engine API's durations are int64 nanoseconds
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def whole_number(minimum=0, maximum=MAX_COUNT):
    """A check for a whole number from `minimum` to `maximum`."""
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if value < minimum:
            raise ValueError(f"must be {minimum} or more")
        if value > maximum:
            raise ValueError(f"must be {maximum} or less")
        return value
    return check


def check_duration(seconds):
    """A parsed duration the Engine API can hold: finite, at most ~292 years."""
    if not 0 <= seconds <= MAX_SECONDS:  # also false for NaN
        raise ValueError(f"a duration must be finite and at most {MAX_SECONDS:.0f}s")
    return seconds


def duration(value):
    """Seconds (float) from 1m30s, 500ms, or a number of seconds."""
    return check_duration(parse_duration(value))


def boolean(value):
    """true or false."""
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def choice(*choices):
    """A check for one of `choices`."""
    def check(value):
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)} (got {value!r})")
        return value
    return check


def text(value):
    """A string (numbers become their text: YAML reads `user: 1000` as a number)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a string")
    return str(value)


def _text_list(value, split=False):
    if isinstance(value, str):
        if not split:
            return [value]
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot be split into words ({exc})") from None
    if not isinstance(value, list):
        raise ValueError("must be a string or a list of strings")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ValueError(f"has an item that is not a string: {item!r}")
        out.append(str(item))
    return out


def string_list(value):
    """A string or a list of strings (`dns: 1.1.1.1` or `dns: [1.1.1.1]`)."""
    return _text_list(value)


def words(value):
    """`command`/`entrypoint`: a list, or a string split into words as a shell would."""
    return _text_list(value, split=True)


def mapping(separator="=", allow_nil=False):
    """A check for a mapping, or a list of `KEY=VALUE`; with allow_nil, `KEY` alone maps to
    None."""
    def check(value):
        if isinstance(value, dict):
            return _mapping_of_dict(value, separator, allow_nil)
        if isinstance(value, list):
            out = {}
            for item in value:
                if not isinstance(item, str) or not item:
                    raise ValueError("has an item that is not a "
                                     f"{'KEY' + separator + 'VALUE'} string: {item!r}")
                key, sep, rest = item.partition(separator)
                if not key:
                    raise ValueError(f"has an item with no name: {item!r}")
                out[key] = rest if sep else (None if allow_nil else "")
            return out
        raise ValueError(f"must be a mapping or a list of KEY{separator}VALUE")
    return check


def _mapping_of_dict(value, separator, allow_nil):
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or separator in key:
            raise ValueError(f"has a bad name {key!r}")
        if item is None:
            out[key] = None if allow_nil else ""
        elif isinstance(item, (dict, list)):
            raise ValueError(f"value of {key!r} must be a string")
        else:
            out[key] = _scalar_text(item)
    return out


def _scalar_text(value):
    # As Go's fmt.Sprint prints what YAML read (the compose loader's toString): true, 3, 1.5,
    # 1 for 1.0, 1e+06 for 1000000.0.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def go_float(number):
    """A float as Go's %v prints it: the shortest digits, %e below 1e-4 and from 1e+06."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if str(number).startswith("-") else "0"
    sign, digits, exponent = decimal.Decimal(repr(number)).normalize().as_tuple()
    shown = "".join(map(str, digits))
    power = len(digits) + exponent - 1
    if power < -4 or power >= 6:
        mantissa = shown[0] + ("." + shown[1:] if len(shown) > 1 else "")
        out = f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    elif exponent >= 0:
        out = shown + "0" * exponent
    elif power >= 0:
        out = shown[:power + 1] + "." + shown[power + 1:]
    else:
        out = "0." + "0" * (-power - 1) + shown
    return ("-" if sign else "") + out


def size(value):
    """Bytes from a number or 512m / 1.5g / 64k (binary units, as docker's RAMInBytes)."""
    if isinstance(value, bool):
        raise ValueError("must be a size like 512m or a number of bytes")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    match = _SIZE.match(str(value))
    if not match or match.group(1).count(".") > 1:
        raise ValueError(f"not a size: {value!r} (use e.g. 64m, 1g, or a number of bytes)")
    scale = 1024 ** ("kmgtp".index(match.group(2).lower()) + 1) if match.group(2) else 1
    return int(float(match.group(1)) * scale)


def cpus(value):
    """A CPU count as a decimal string ("0.5"), exact to the nano-CPU as the engine counts."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a number of CPUs like 0.5")
    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        raise ValueError(f"not a number of CPUs: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError("must be a number of CPUs, 0 or more")
    if (number * 10 ** 9) % 1:
        raise ValueError("is too precise (the engine counts in billionths of a CPU)")
    return str(value)


def ratio(value):
    """A number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return float(value)


def file_mode(value):
    """A file mode (YAML reads 0440 as octal)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise ValueError("must be a file mode like 0440 (octal)")
    return value
