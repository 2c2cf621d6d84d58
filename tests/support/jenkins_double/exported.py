"""Stapler-style "exported bean" rendering for the Jenkins double.

Real Jenkins serialises ``/api/json`` through Stapler: every model object
declares exported properties, each with a *visibility*, and the response is
pruned either by ``depth`` or by a ``tree`` expression.  Reproducing those
rules (instead of hand-writing dicts per endpoint) is what makes clients such
as python-jenkins' ``get_all_jobs`` behave here exactly as they do against a
real controller, including its "empty objects mean: fetch this folder again"
logic.

Rules reproduced (from Stapler's ``TreePruner.ByDepth``/``NamedPathPruner``):

* depth pruning starts at level ``n = 1 - depth``; a property is written when
  ``visibility >= n``; a nested object is pruned at ``n + 1`` unless the
  property is *inline* (then the same ``n`` is kept);
* ``tree`` pruning writes exactly the named properties, at any nesting;
  a name without ``[...]`` writes nested objects as ``{"_class": ...}`` only;
* ``{M,N}`` ranges slice collections (``{N}`` = element N, ``{M,}``, ``{,N}``);
* ``_class`` is always written for objects, whatever the pruner says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional


@dataclass(frozen=True)
class Prop:
    """One exported property: name, lazy getter, Stapler visibility, inline flag."""

    name: str
    getter: Callable[[], Any]
    visibility: int = 1
    inline: bool = False


class Exported:
    """Base for model objects rendered through :func:`render`."""

    #: Java class name written as ``_class``.
    jenkins_class = "java.lang.Object"

    def exported(self) -> Iterable[Prop]:
        """Return the exported properties, in Jenkins' (alphabetical-ish) order."""
        return ()


class TreeSyntaxError(ValueError):
    """A ``tree=`` expression that Stapler would refuse to parse."""


@dataclass
class TreeNode:
    """A parsed ``tree`` expression node: named children and an optional range."""

    children: dict[str, "TreeNode"] = field(default_factory=dict)
    range: Optional[tuple[Optional[int], Optional[int]]] = None


def parse_tree(spec: str) -> TreeNode:
    """Parse ``jobs[name,url,jobs[name]{0,10}],views[name]`` into a TreeNode."""
    root = TreeNode()
    pos = _parse_list(spec, 0, root)
    if pos != len(spec):
        raise TreeSyntaxError(f"unexpected {spec[pos]!r} at {pos} in {spec!r}")
    return root


def _parse_list(spec: str, pos: int, parent: TreeNode) -> int:
    while True:
        start = pos
        while pos < len(spec) and spec[pos] not in ",[]{}":
            pos += 1
        name = spec[start:pos].strip()
        if not name:
            raise TreeSyntaxError(f"empty name at {start} in {spec!r}")
        node = parent.children.setdefault(name, TreeNode())
        if pos < len(spec) and spec[pos] == "[":
            pos = _parse_list(spec, pos + 1, node)
            if pos >= len(spec) or spec[pos] != "]":
                raise TreeSyntaxError(f"missing ']' in {spec!r}")
            pos += 1
        if pos < len(spec) and spec[pos] == "{":
            end = spec.find("}", pos)
            if end < 0:
                raise TreeSyntaxError(f"missing '}}' in {spec!r}")
            node.range = _parse_range(spec[pos + 1:end])
            pos = end + 1
        if pos < len(spec) and spec[pos] == ",":
            pos += 1
            continue
        return pos


def _parse_range(text: str) -> tuple[Optional[int], Optional[int]]:
    try:
        if "," not in text:
            index = int(text)
            return index, index + 1
        low, high = text.split(",", 1)
        return (int(low) if low.strip() else None,
                int(high) if high.strip() else None)
    except ValueError as exc:
        raise TreeSyntaxError(f"bad range {{{text}}}") from exc


class _Pruner:
    """Decides which properties of an object are written, and how to go deeper."""

    range: Optional[tuple[Optional[int], Optional[int]]] = None

    def accept(self, prop: Prop) -> Optional["_Pruner"]:
        raise NotImplementedError


class _ByDepth(_Pruner):
    def __init__(self, level: int) -> None:
        self.level = level

    def accept(self, prop: Prop) -> Optional[_Pruner]:
        if prop.visibility < self.level:
            return None
        return self if prop.inline else _ByDepth(self.level + 1)


class _ByTree(_Pruner):
    def __init__(self, node: TreeNode) -> None:
        self.node = node
        self.range = node.range

    def accept(self, prop: Prop) -> Optional[_Pruner]:
        child = self.node.children.get(prop.name)
        return None if child is None else _ByTree(child)


def render(obj: Any, *, depth: int = 0, tree: Optional[str] = None) -> Any:
    """Render ``obj`` to JSON-able data the way ``/api/json`` would.

    ``tree`` wins over ``depth`` (as in Stapler).  Raises TreeSyntaxError for
    an unparsable tree.
    """
    pruner: _Pruner = _ByTree(parse_tree(tree)) if tree else _ByDepth(1 - depth)
    return _value(obj, pruner)


def _value(value: Any, pruner: _Pruner) -> Any:
    if isinstance(value, Exported):
        return _object(value, pruner)
    if isinstance(value, (list, tuple)):
        items = list(value)
        if pruner.range is not None:
            low, high = pruner.range
            items = items[low:high]
        return [_value(v, pruner) for v in items]
    if isinstance(value, dict):
        return {k: _value(v, pruner) for k, v in value.items()}
    return value


def _object(obj: Exported, pruner: _Pruner) -> dict[str, Any]:
    out: dict[str, Any] = {"_class": obj.jenkins_class}
    for prop in obj.exported():
        child = pruner.accept(prop)
        if child is not None:
            out[prop.name] = _value(prop.getter(), child)
    return out
