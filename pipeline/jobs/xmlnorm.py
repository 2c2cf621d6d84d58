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
* attributes are sorted by name; attributes in IGNORED_ATTRIBUTES are dropped;
* children are put in tag order, a stable sort: XStream writes an object's fields in its
  class's declaration order (RobustReflectionConverter), whatever order they were posted
  in, and declarative re-adds the job properties it manages at the end of the list
  (pipeline-model-definition Utils.updateJobProperties). Repeated tags (list entries:
  branches, parameters) keep their order, which is theirs;
* a field holding its Java default is the same as the field missing (VERSIONED_DEFAULTS):
  XStream leaves an absent field at its default on load, and writes every field on save.
  A Jenkins that has the field writes it (`removeLastBuild`, core 2.474+); one that does not
  have it drops it (an unknown field is skipped on load); either way it is the same job;
* what Jenkins adds to an item by itself (JENKINS_ADDED_ACTIONS in the item's <actions>)
  is not configuration: declarative pipelines add those on their first build.

Each rule is one thing a real Jenkins does to a stored config; nothing else is ignored, so
a hand edit is still drift.
"""
import difflib
import re
import xml.etree.ElementTree as ET

# Attributes Jenkins adds or rewrites on its own. `plugin` carries the plugin's version
# ("workflow-job@1400.v7fd111b_ec82f"), which changes with upgrades, not with the job.
IGNORED_ATTRIBUTES = frozenset({"plugin"})

# Actions a Jenkins adds to a job's own <actions> and saves, without anyone configuring it:
# the first run of a declarative pipeline adds both (pipeline-model-definition
# Utils.groovy: `job.addAction(new DeclarativeJobAction())` and
# `j.replaceAction(new DeclarativeJobPropertyTrackerAction(...))`).
JENKINS_ADDED_ACTIONS = frozenset({
    "org.jenkinsci.plugins.pipeline.modeldefinition.actions.DeclarativeJobAction",
    ("org.jenkinsci.plugins.pipeline.modeldefinition.actions."
     "DeclarativeJobPropertyTrackerAction"),
})

# {class: {field: the text of its Java default}} for fields that exist only in some
# versions of the class, so one Jenkins writes them and another drops them:
#   hudson.tasks.LogRotator.removeLastBuild: core 2.474+ (core LogRotator.java)
#   DisableConcurrentBuildsJobProperty.abortPrevious: workflow-job 2.42+
#     (workflow-job DisableConcurrentBuildsJobProperty.java)
# An element's class is its `class` attribute, else its tag (XStream's convention).
VERSIONED_DEFAULTS = {
    "hudson.tasks.LogRotator": {"removeLastBuild": "false"},
    "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty":
        {"abortPrevious": "false"},
}

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


def _canonical(element, root=True):
    out = ET.Element(element.tag, {k: element.attrib[k] for k in sorted(element.attrib)
                                   if k not in IGNORED_ATTRIBUTES})
    out.text = _keep(element.text)
    for child in _children(element, root):
        copy = _canonical(child, False)
        copy.tail = _keep(child.tail)
        out.append(copy)
    return out


def _children(element, root):
    """The child elements that count, in canonical order (see the module doc)."""
    defaults = VERSIONED_DEFAULTS.get(element.get("class") or element.tag, {})
    kept = []
    for child in element:
        if not isinstance(child.tag, str):  # comments and processing instructions
            continue
        if defaults.get(child.tag) is not None and len(child) == 0 \
                and (child.text or "").strip() == defaults[child.tag]:
            continue
        if root and child.tag == "actions":
            if _only_jenkins_actions(child):
                continue
            child = _without_jenkins_actions(child)
        kept.append(child)
    return sorted(kept, key=lambda child: child.tag)


def _only_jenkins_actions(actions):
    return all(not isinstance(a.tag, str) or a.tag in JENKINS_ADDED_ACTIONS for a in actions) \
        and not _keep(actions.text)


def _without_jenkins_actions(actions):
    if not any(a.tag in JENKINS_ADDED_ACTIONS for a in actions):
        return actions
    copy = ET.Element(actions.tag, actions.attrib)
    copy.text, copy.tail = actions.text, actions.tail
    copy.extend(a for a in actions if a.tag not in JENKINS_ADDED_ACTIONS)
    return copy


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
    return _key(_parse_raw(xml), None, True)


def equivalent(left, right):
    """Whether two config.xml texts mean the same item configuration."""
    return fingerprint(left) == fingerprint(right)


def _key(element, tail, root=False):
    # The canonical tree's content (see module doc) as a tuple, children in canonical order.
    attributes = tuple(sorted((k, v) for k, v in element.attrib.items()
                              if k not in IGNORED_ATTRIBUTES))
    return (element.tag, attributes, _keep(element.text), _keep(tail),
            tuple(_key(child, child.tail) for child in _children(element, root)))


def with_jenkins_actions(desired, live):
    """`desired` with the actions Jenkins added to the live item (JENKINS_ADDED_ACTIONS)
    spliced into its empty root <actions/>, so a reconfiguration keeps Jenkins' own state
    (the declarative tracker records which job properties the Jenkinsfile manages).
    Unchanged when the live item has none or `desired` has no empty <actions/>."""
    try:
        root = _parse_raw(live)
    except XmlError:
        return desired
    actions = root.find("actions")
    kept = [a for a in (actions if actions is not None else []) if a.tag in JENKINS_ADDED_ACTIONS]
    if not kept:
        return desired
    for action in kept:
        action.tail = None
    inner = "".join(ET.tostring(a, encoding="unicode") for a in kept)
    return _EMPTY_ACTIONS.sub(lambda m: f"{m.group(1)}<actions>{inner}</actions>", desired,
                              count=1)


# The root's empty <actions/> as the templates write it: the first element after the root's
# start tag, on its own line.
_EMPTY_ACTIONS = re.compile(r"^(\s*)<actions\s*(?:/>|>\s*</actions>)", re.MULTILINE)


def unified_diff(live, desired, path):
    """A unified diff from the live config (None: item missing) to the rendered one."""
    before = canonical_text(live).splitlines(keepends=True) if live is not None else []
    after = canonical_text(desired).splitlines(keepends=True)
    return "".join(difflib.unified_diff(
        before, after,
        fromfile=f"jenkins/{path}/config.xml" if live is not None else "/dev/null",
        tofile=f"catalog/{path}/config.xml"))
