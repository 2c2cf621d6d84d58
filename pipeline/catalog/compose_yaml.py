"""Stack files parsed as `docker stack deploy` parses them: YAML whose plain scalars mean what
go-yaml v2 (docker/cli's YAML library, vendor/gopkg.in/yaml.v2/resolve.go) makes of them.

PyYAML resolves plain scalars by YAML 1.1's rules; go-yaml v2 by its own, and where the two
differ a stack file means something else to each:
- `22:22` (a port, unquoted) is PyYAML's base-60 integer 1342; to go-yaml the text "22:22",
  published port 22 to target 22;
- `y`, `Y`, `n`, `N` are booleans to go-yaml (stack deploy then refuses one where text is
  wanted, and `n:` as a network name is the key false); text to PyYAML;
- `2001-01-01` is text to go-yaml (a timestamp it keeps as text in an untyped document);
  a date to PyYAML;
- `0o17`, `08`, `1e3`, `1_000.5` are numbers to go-yaml (15, 8.0, 1000.0, 1000.5); text to
  PyYAML; `=` is text to go-yaml, and PyYAML cannot read it.
Quoted scalars are text to both, and the rest (the parser, anchors, merge keys, duplicate
keys refused) is loader.py's.
"""
import math
import re

import yaml

from pipeline.catalog import loader

_PREFIX = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MERGE = (_PREFIX + t for t in
                                       ("str", "int", "float", "bool", "null", "merge"))
_BOOLS = {**dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On",
                           "ON"), True),
          **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off",
                           "OFF"), False)}
_SPECIAL_FLOATS = {**dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
                   **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"),
                                   math.inf),
                   **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf)}
_KNOWN = {**{k: BOOL for k in _BOOLS}, **{k: FLOAT for k in _SPECIAL_FLOATS},
          **{k: NULL for k in ("", "~", "null", "Null", "NULL")}, "<<": MERGE}
# Go's strconv.ParseInt(s, 0, 64) syntax: 0x, 0o, 0b prefixes, a leading 0 for octal.
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_BASES = {"x": 16, "o": 8, "b": 2}
# go-yaml's yamlStyleFloat, tried on the text without underscores
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")   # what ParseFloat reads after a "."


def go_int(text):
    """The integer go-yaml reads from plain `text` (underscores dropped), or None: int64,
    else uint64; beyond those it is no integer (go-yaml tries a float then)."""
    match = _GO_INT.fullmatch(text.replace("_", ""))
    if not match:
        return None
    sign, digits = match.groups()
    if len(digits) > 1 and digits[0] == "0":
        base = _GO_BASES.get(digits[1].lower(), 8)
        number = int(digits[2:] if base != 8 or digits[1] in "oO" else digits[1:], base)
    else:
        number = int(digits)
    number = -number if sign == "-" else number
    if -2 ** 63 <= number < 2 ** 64 and not (sign == "+" and number >= 2 ** 63):
        return number
    return None


def go_tag(text):
    """The tag go-yaml v2 resolves the plain scalar `text` to (its `resolve`)."""
    if text in _KNOWN:
        return _KNOWN[text]
    first = text[:1]
    if first == ".":
        return FLOAT if _DOT_FLOAT.fullmatch(text) else STR
    if first and first in "+-0123456789":
        if go_int(text) is not None:
            return INT
        if _GO_FLOAT.fullmatch(text.replace("_", "")):
            return FLOAT
    return STR


class _GoScalars:
    """Plain scalars resolved as go-yaml resolves them; their values built as it builds them."""

    def resolve(self, kind, value, implicit):
        """The tag of a node: go_tag for a plain scalar, PyYAML's for the rest."""
        if kind is yaml.ScalarNode and implicit[0]:
            return go_tag(value)
        return super().resolve(kind, value, implicit)

    def construct_go_int(self, node):
        """An integer as go-yaml reads it (`!!int` on text that is none: a ValueError)."""
        number = go_int(self.construct_scalar(node))
        if number is None:
            raise ValueError(f"{node.value!r} is not an integer")
        return number

    def construct_go_float(self, node):
        """A float as go-yaml reads it."""
        text = self.construct_scalar(node)
        if text in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[text]
        return float(text.replace("_", "") if text[:1] != "." else text)

    def construct_go_bool(self, node):
        """y/yes/true/on and n/no/false/off, in go-yaml's three spellings each."""
        text = self.construct_scalar(node)
        if text not in _BOOLS:
            raise ValueError(f"{text!r} is not a boolean")
        return _BOOLS[text]


def _with_go_scalars(base):
    cls = type(f"Go{base.__name__}", (_GoScalars, base), {})
    cls.add_constructor(INT, _GoScalars.construct_go_int)
    cls.add_constructor(FLOAT, _GoScalars.construct_go_float)
    cls.add_constructor(BOOL, _GoScalars.construct_go_bool)
    return cls


LOADERS = (_with_go_scalars(loader.CLoader) if loader.CLoader else None,
           _with_go_scalars(loader.PythonLoader))


def load(text):
    """One stack file document from `text` (loader.load's errors)."""
    return loader.load(text, LOADERS)


def read(path):
    """The stack file at `path` (loader.read's errors)."""
    return loader.read(path, LOADERS)
