"""config.xml normalisation: decide whether a live item matches what we rendered.

Jenkins does not hand back the bytes it was given. It rewrites the XML declaration
(`<?xml version='1.1' encoding='UTF-8'?>`), re-indents when it saves an item, writes
`<x/>` for `<x></x>`, and XStream stamps `plugin="name@version"` on elements whose class
comes from a plugin, a version that changes with every plugin upgrade. Comparing text
would report all of that as drift and reconfigure every job on every run, so both sides
are reduced to a canonical tree first:

* the XML declaration, encoding, comments and processing instructions are ignored;
* text and tails that are only whitespace are dropped (indentation), other text is kept
  exactly: an inline pipeline script is whitespace-sensitive;
* an empty element and an element with empty text are the same;
* attributes are sorted by name; attributes in IGNORED_ATTRIBUTES are dropped.
"""
import difflib
import re
import xml.etree.ElementTree as ET

# Attributes Jenkins adds or rewrites on its own. `plugin` carries the plugin's version
# ("workflow-job@1400.v7fd111b_ec82f"), which changes with upgrades, not with the job.
IGNORED_ATTRIBUTES = frozenset({"plugin"})

_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>", re.ASCII)


class XmlError(ValueError):
    """A config.xml that does not parse; the message says where."""


def parse(xml):
    """Parse config.xml text (str or bytes) into a canonical Element (see module doc)."""
    return _canonical(_parse_raw(xml))


def _parse_raw(xml):
    if isinstance(xml, bytes):
        # Jenkins always serves and stores UTF-8; decoding here lets us drop the
        # declaration uniformly (ElementTree refuses str input with an encoding declaration
        # in some versions, and a 1.1 declaration in others).
        xml = xml.decode("utf-8", errors="replace")
    text = _DECLARATION.sub("", xml, count=1)
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise XmlError(f"config.xml does not parse: {exc}") from None


def _canonical(element):
    out = ET.Element(element.tag, {k: element.attrib[k] for k in sorted(element.attrib)
                                   if k not in IGNORED_ATTRIBUTES})
    out.text = _keep(element.text)
    for child in element:
        if not isinstance(child.tag, str):  # comments and processing instructions
            continue
        copy = _canonical(child)
        copy.tail = _keep(child.tail)
        out.append(copy)
    return out


def _keep(text):
    """Text that carries content is kept verbatim; whitespace-only or empty text is None."""
    if text is None or not text.strip():
        return None
    return text


def canonical_text(xml):
    """The normalised, pretty-printed form of `xml` (what diffs are made of)."""
    root = parse(xml) if not isinstance(xml, ET.Element) else xml
    tree = ET.ElementTree(root)
    ET.indent(tree, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def root_tag(xml):
    """The root element's tag: Jenkins decides an item's type from it."""
    return _parse_raw(xml).tag


def fingerprint(xml):
    """A hashable key of config.xml: equal keys mean equivalent configurations.

    One parse, walked once, without building the canonical tree: comparing a catalog of
    hundreds of items parses each config once per side (`key[0]` is the root tag).
    """
    return _key(_parse_raw(xml), None)


def equivalent(left, right):
    """Whether two config.xml texts mean the same item configuration."""
    return fingerprint(left) == fingerprint(right)


def _key(element, tail):
    # The canonical tree's content (see module doc) as an order-sensitive tuple: child
    # order matters to XStream.
    attributes = tuple(sorted((k, v) for k, v in element.attrib.items()
                              if k not in IGNORED_ATTRIBUTES))
    return (element.tag, attributes, _keep(element.text), _keep(tail),
            tuple(_key(child, child.tail) for child in element
                  if isinstance(child.tag, str)))  # comments, processing instructions


def unified_diff(live, desired, path):
    """A unified diff from the live config (None: item missing) to the rendered one."""
    before = canonical_text(live).splitlines(keepends=True) if live is not None else []
    after = canonical_text(desired).splitlines(keepends=True)
    return "".join(difflib.unified_diff(
        before, after,
        fromfile=f"jenkins/{path}/config.xml" if live is not None else "/dev/null",
        tofile=f"catalog/{path}/config.xml"))
