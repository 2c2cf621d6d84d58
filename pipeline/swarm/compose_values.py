"""Value checks for stack-file keys: each takes what YAML read and returns the canonical form
(or raises ValueError with what is wrong). compose_keys puts them together per key."""
import math
import re
import shlex

from pipeline import catalog
from pipeline.units import parse_duration

_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def _problem(message):
    raise ValueError(message)


def text(value):
    """A string (numbers become their text: YAML reads `user: 1000` as a number)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _problem("must be a string")
    return str(value)


def _text_list(value, split=False):
    if isinstance(value, str):
        if not split:
            return [value]
        try:
            return shlex.split(value)
        except ValueError as exc:
            _problem(f"cannot be split into words ({exc})")
    if not isinstance(value, list):
        _problem("must be a string or a list of strings")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            _problem(f"has an item that is not a string: {item!r}")
        out.append(str(item))
    return out


def string_list(value):
    """A string or a list of strings (`dns: 1.1.1.1` or `dns: [1.1.1.1]`)."""
    return _text_list(value)


def words(value):
    """`command`/`entrypoint`: a list, or a string split into words as a shell would."""
    return _text_list(value, split=True)


def mapping(separator="=", allow_nil=False):
    """A mapping, or a list of `KEY=VALUE`; with allow_nil, `KEY` alone maps to None."""
    def check(value):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str) or not key or separator in key:
                    _problem(f"has a bad name {key!r}")
                if item is None:
                    out[key] = None if allow_nil else ""
                elif isinstance(item, (dict, list)):
                    _problem(f"value of {key!r} must be a string")
                else:
                    out[key] = _scalar_text(item)
            return out
        if isinstance(value, list):
            out = {}
            for item in value:
                if not isinstance(item, str) or not item:
                    _problem(f"has an item that is not a {'KEY' + separator + 'VALUE'} string: "
                             f"{item!r}")
                key, sep, rest = item.partition(separator)
                if not key:
                    _problem(f"has an item with no name: {item!r}")
                out[key] = rest if sep else (None if allow_nil else "")
            return out
        _problem(f"must be a mapping or a list of KEY{separator}VALUE")
    return check


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
    import decimal  # only for floats and CPUs: its import is 3 ms of every deploy's start

    sign, digits, exponent = decimal.Decimal(repr(number)).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = len(digits) + exponent - 1
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    elif exponent >= 0:
        out = text + "0" * exponent
    elif power >= 0:
        out = text[:power + 1] + "." + text[power + 1:]
    else:
        out = "0." + "0" * (-power - 1) + text
    return ("-" if sign else "") + out


def duration(value):
    """Seconds (float) from 1m30s, 500ms, or a number of seconds."""
    return catalog.check_duration(parse_duration(value))


def size(value):
    """Bytes from a number or 512m / 1.5g / 64k (binary units, as docker's RAMInBytes)."""
    if isinstance(value, bool):
        _problem("must be a size like 512m or a number of bytes")
    if isinstance(value, int):
        if value < 0:
            _problem("must not be negative")
        return value
    match = _SIZE.match(str(value))
    if not match or match.group(1).count(".") > 1:
        _problem(f"not a size: {value!r} (use e.g. 64m, 1g, or a number of bytes)")
    scale = 1024 ** ("kmgtp".index(match.group(2).lower()) + 1) if match.group(2) else 1
    return int(float(match.group(1)) * scale)


def cpus(value):
    """A CPU count as a decimal string ("0.5"), exact to the nano-CPU as the engine counts."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _problem("must be a number of CPUs like 0.5")
    import decimal

    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        _problem(f"not a number of CPUs: {value!r}")
    if not number.is_finite() or number < 0:
        _problem("must be a number of CPUs, 0 or more")
    if (number * 10 ** 9) % 1:
        _problem("is too precise (the engine counts in billionths of a CPU)")
    return str(value)


def ratio(value):
    """A number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        _problem("must be a number from 0 to 1")
    return float(value)


def boolean(value):
    """true or false."""
    if not isinstance(value, bool):
        _problem("must be true or false")
    return value


def choice(*choices):
    """One of `choices`."""
    def check(value):
        if value not in choices:
            _problem(f"must be one of {', '.join(choices)} (got {value!r})")
        return value
    return check


def count(minimum=0, maximum=catalog.MAX_COUNT):
    """A whole number."""
    return catalog.whole_number(minimum, maximum)


def file_mode(value):
    """A file mode (YAML reads 0440 as octal)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        _problem("must be a file mode like 0440 (octal)")
    return value
