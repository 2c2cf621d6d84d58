"""The one schema walker: a mapping checked key by key against rules, every problem one
`fail(key, message)` naming the dotted key (`deploy.update_config.order`, `ports[1].mode`).

A rule is one of:
- a dict: a nested mapping with rules of its own (a key given no value is an empty mapping);
- a Part: a check that walks its part of the document itself (a list of mappings, say) and
  names the keys below its own: called as `check(value, fail, key)`;
- any other callable: a value check, taking the value and returning it converted, or raising
  ValueError with what is wrong (pipeline/catalog/values.py has the shared ones).

Every value a check or a Part converted is also checked for characters no output can carry
(a NUL ends a C string in argv or the environment; U+FFFE is not allowed in a job's
config.xml).
"""
import re
from dataclasses import dataclass
from typing import Callable

# NUL ends a C string (argv, environment, `sh -c`), a lone surrogate has no UTF-8 form, and
# U+FFFE/U+FFFF are not allowed in XML (job config.xml).
_UNCARRIABLE = re.compile("[\x00\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Part:
    """A rule that checks a part of the document itself: `check(value, fail, key)` returns
    the part converted, calling `fail` with the keys below `key`; a key given no value
    (null) is checked as `empty()`."""

    check: Callable
    empty: Callable = dict


def walk(rules, value, fail, prefix="", *, null=None):
    """`value` checked against `rules` (see the module docstring) and converted; a problem
    calls `fail(dotted key, message)`, which raises.

    `null`: the message for a key given no value whose rule is a value check; None passes
    the null to the check, which says what it wants instead (`must be a string`).
    """
    if not isinstance(value, dict):
        fail(prefix.rstrip(".") or None, "must be a mapping")
    out = {}
    for key, item in value.items():
        dotted = f"{prefix}{key}"
        if key not in rules:
            fail(dotted, f"unknown key (known keys here: {', '.join(sorted(rules))})")
        rule = rules[key]
        if isinstance(rule, dict):   # its values were checked one by one
            out[key] = walk(rule, item if item is not None else {}, fail, dotted + ".",
                            null=null)
            continue
        if isinstance(rule, Part):
            out[key] = rule.check(item if item is not None else rule.empty(), fail, dotted)
        elif item is None and null is not None:
            fail(dotted, null)
        else:
            try:
                out[key] = rule(item)
            except ValueError as exc:
                fail(dotted, str(exc))
        bad = uncarriable(out[key])
        if bad is not None:
            fail(dotted, f"must not contain the character {bad!r} (U+{ord(bad):04X})")
    return out


def uncarriable(value):
    """The first character of `value` (a converted setting: text, or lists and mappings of
    it) that no output can carry, else None."""
    if isinstance(value, str):
        found = _UNCARRIABLE.search(value)
        return found.group() if found else None
    if isinstance(value, dict):
        value = list(value) + list(value.values())
    if isinstance(value, list):
        for item in value:
            found = uncarriable(item)
            if found is not None:
                return found
    return None
