"""What Jenkins stores and serves for an item: its config.xml re-serialised from memory.

Jenkins never keeps the bytes it was sent. It unmarshals a posted config.xml into objects
and writes them back with XStream when it saves (``AbstractItem.updateByXml``,
``ItemGroupMixIn.createProjectFromXML`` + ``save()``), and since SECURITY-3744
``GET config.xml`` is ``Items.XSTREAM2.toXMLUTF8(this)``: the objects again, not the file
(core ``AbstractItem.writeConfigDotXml``). What a client sees therefore differs from what it
sent, in the ways reproduced here:

===============================  ==========================================================
behaviour                        source
===============================  ==========================================================
``<?xml version='1.1'             core ``XmlFile`` / ``XStream2.toXMLUTF8``
encoding='UTF-8'?>``, 2-space
indentation, ``<x/>`` when
empty, ``&quot;``/``&apos;``
fields in declaration order,     ``RobustReflectionConverter.doMarshal`` (fields visited
every field written (a missing   in class order, superclass first; a null field is
boolean as ``false``)            skipped, a primitive always written)
``plugin="name@version"`` on     ``RobustReflectionConverter.OwnerContext``: "marks
an element whose class a plugin  plugin=... where the owner is known and distinct from the
owns                             closest owned ancestor"; ``XStream2.PluginClassOwnership``
``LogRotator.removeLastBuild``   core ``hudson/tasks/LogRotator.java`` (field since 2.474;
                                 older cores skip it as an unknown field)
``DisableConcurrentBuilds...     workflow-job ``DisableConcurrentBuildsJobProperty.java``
.abortPrevious``
``StringParameterDefinition      core ``hudson/model/StringParameterDefinition.java``
.trim``
GitSCM, UserRemoteConfig fields  git ``GitSCM.java``, ``UserRemoteConfig.java``
CpsFlowDefinition,               workflow-cps ``CpsFlowDefinition.java``,
CpsScmFlowDefinition fields      ``CpsScmFlowDefinition.java``
WorkflowJob fields               workflow-job ``WorkflowJob.java`` (+ core ``Job``,
                                 ``AbstractItem``, ``Actionable``)
declarative actions after a      pipeline-model-definition ``Utils.groovy``
build                            (``DeclarativeJobAction``,
                                 ``DeclarativeJobPropertyTrackerAction``; the managed job
                                 properties removed and added again, at the end)
===============================  ==========================================================

Classes not listed keep their fields as sent (in the sent order): the double cannot know
them, and a real Jenkins without the plugin would refuse the item anyway.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

DECLARATION = "<?xml version='1.1' encoding='UTF-8'?>"
DECLARATIVE_ACTION = "org.jenkinsci.plugins.pipeline.modeldefinition.actions.DeclarativeJobAction"
TRACKER_ACTION = ("org.jenkinsci.plugins.pipeline.modeldefinition.actions."
                  "DeclarativeJobPropertyTrackerAction")
DISABLE_CONCURRENT = ("org.jenkinsci.plugins.workflow.job.properties."
                      "DisableConcurrentBuildsJobProperty")
DISCARDER = "jenkins.model.BuildDiscarderProperty"
PARAMETERS = "hudson.model.ParametersDefinitionProperty"

# Class (XStream alias or class name) -> plugin that owns it, by package prefix.
_OWNERS = (
    ("flow-definition", "workflow-job"),
    ("org.jenkinsci.plugins.workflow.job.", "workflow-job"),
    ("org.jenkinsci.plugins.workflow.cps.", "workflow-cps"),
    ("org.jenkinsci.plugins.pipeline.modeldefinition.", "pipeline-model-definition"),
    ("hudson.plugins.git.", "git"),
    ("com.cloudbees.hudson.plugins.folder.", "cloudbees-folder"),
    ("org.jenkinsci.plugins.credentialsbinding.", "credentials-binding"),
)

# Field lists of the classes the double knows, in declaration order (superclass first).
# Each field: (name, default). A default of None: a reference field, written only when set;
# a string: a primitive, always written, that value when the XML had none.
_FIELDS: dict[str, list[tuple[str, str | None]]] = {
    "flow-definition": [("actions", ""), ("description", None), ("displayName", None),
                        ("keepDependencies", "false"), ("properties", ""),
                        ("definition", None), ("triggers", ""), ("quietPeriod", None),
                        ("authToken", None), ("concurrentBuild", None),
                        ("disabled", "false")],
    "com.cloudbees.hudson.plugins.folder.Folder": [
        ("actions", ""), ("description", None), ("displayName", None), ("properties", ""),
        ("folderViews", None), ("healthMetrics", None), ("icon", None)],
    DISABLE_CONCURRENT: [("abortPrevious", "false")],
    DISCARDER: [("strategy", None)],
    "hudson.tasks.LogRotator": [("daysToKeep", None), ("numToKeep", None),
                                ("artifactDaysToKeep", None), ("artifactNumToKeep", None),
                                ("removeLastBuild", "false")],
    PARAMETERS: [("parameterDefinitions", "")],
    "hudson.model.StringParameterDefinition": [("name", None), ("description", None),
                                               ("defaultValue", None), ("trim", "false")],
    "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition": [("script", None),
                                                             ("sandbox", "false")],
    "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition": [
        ("scm", None), ("scriptPath", None), ("lightweight", "false")],
    "hudson.plugins.git.GitSCM": [
        ("configVersion", None), ("userRemoteConfigs", None), ("branches", None),
        ("doGenerateSubmoduleConfigurations", "false"), ("gitTool", None),
        ("browser", None), ("submoduleCfg", None), ("extensions", "")],
    "hudson.plugins.git.UserRemoteConfig": [("name", None), ("refspec", None),
                                            ("url", None), ("credentialsId", None)],
}
# Fields a core version does not have yet: (class, field) -> first version with it.
_SINCE = {("hudson.tasks.LogRotator", "removeLastBuild"): (2, 474)}


def version_tuple(text: str) -> tuple[int, ...]:
    """``"2.440.3"`` -> ``(2, 440, 3)``: Jenkins versions compared as numbers."""
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def class_of(element: ET.Element) -> str:
    """An element's class: its ``class`` attribute, else its tag (XStream's convention)."""
    return element.get("class") or element.tag


class XStream:
    """Re-serialises config.xml as one Jenkins (core version, plugin versions) would."""

    def __init__(self, core_version: str, plugin_version: Callable[[str], str | None]):
        self.core = version_tuple(core_version)
        self.plugin_version = plugin_version

    # -- public -------------------------------------------------------------
    def store(self, xml: str | bytes) -> str:
        """What Jenkins holds (and ``GET config.xml`` serves) after it was given ``xml``."""
        if isinstance(xml, bytes):
            xml = xml.decode("utf-8", "replace")
        root = ET.fromstring(re.sub(r"^\ufeff?\s*<\?xml[^>]*\?>", "", xml, count=1))
        self._normalise(root)
        return self.write(root)

    def write(self, root: ET.Element) -> str:
        """Serialise a normalised tree like XStream's PrettyPrintWriter."""
        lines: list[str] = [DECLARATION]
        self._write(root, 0, None, lines)
        return "\n".join(lines)

    def declarative_run(self, xml: str) -> str:
        """The job after the first step of a declarative run: the two actions added (once),
        the job properties declarative manages removed and added again at the end."""
        root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", xml, count=1))
        actions = root.find("actions")
        if actions is None:
            actions = ET.Element("actions")
            root.insert(0, actions)
        properties = root.find("properties")
        managed = [] if properties is None else [
            p for p in properties if p.tag in (DISABLE_CONCURRENT, DISCARDER, PARAMETERS)]
        if actions.find(DECLARATIVE_ACTION) is None:
            ET.SubElement(actions, DECLARATIVE_ACTION)
        tracker = actions.find(TRACKER_ACTION)
        if tracker is not None:
            actions.remove(tracker)
        tracker = ET.SubElement(actions, TRACKER_ACTION)
        sets = {"jobProperties": sorted(p.tag for p in managed if p.tag != PARAMETERS),
                "triggers": [],
                "parameters": [n.text or "" for p in managed if p.tag == PARAMETERS
                               for n in p.iter("name")],
                "options": []}
        for name, values in sets.items():
            field = ET.SubElement(tracker, name)
            for value in values:
                ET.SubElement(field, "string").text = value
        if properties is not None:
            # Utils.updateJobProperties: parameters replaced first, then each option's
            # property removed and added (addProperty appends).
            order = [PARAMETERS, DISCARDER, DISABLE_CONCURRENT]
            for prop in sorted(managed, key=lambda p: order.index(p.tag)):
                properties.remove(prop)
                properties.append(prop)
        self._normalise(root)
        return self.write(root)

    # -- normalising --------------------------------------------------------
    def _normalise(self, element: ET.Element) -> None:
        if "reference" in element.attrib:
            return  # an XStream back-reference (a view's owner): no fields of its own
        fields = _FIELDS.get(class_of(element))
        if fields is not None:
            self._order_fields(element, class_of(element), fields)
        for child in element:
            self._normalise(child)

    def _order_fields(self, element: ET.Element, cls: str,
                      fields: list[tuple[str, str | None]]) -> None:
        present = {child.tag: child for child in element}
        known = [name for name, _ in fields]
        ordered = []
        for name, default in fields:
            since = _SINCE.get((cls, name))
            if since is not None and self.core < since:
                continue  # this core has no such field: skipped on load, never written
            child = present.get(name)
            if child is None and default is not None:
                child = ET.Element(name)
                child.text = default or None
            if child is not None:
                ordered.append(child)
        ordered += [child for child in element if child.tag not in known]
        for child in list(element):
            element.remove(child)
        element.extend(ordered)

    # -- writing ------------------------------------------------------------
    def _owner(self, element: ET.Element) -> str | None:
        cls = class_of(element)
        if "." not in cls and cls != "flow-definition":
            return None  # a field, not a class
        for prefix, plugin in _OWNERS:
            if cls == prefix or cls.startswith(prefix):
                version = self.plugin_version(plugin)
                return f"{plugin}@{version}" if version else None
        return None  # core

    def _write(self, element: ET.Element, depth: int, owner_above: str | None,
               lines: list[str]) -> None:
        owner = self._owner(element)
        attributes = {k: v for k, v in element.attrib.items() if k != "plugin"}
        if owner is not None and owner != owner_above:
            attributes["plugin"] = owner
        head = element.tag + "".join(f' {k}="{_escape(v, True)}"'
                                     for k, v in attributes.items())
        indent = "  " * depth
        children = list(element)
        if children:
            lines.append(f"{indent}<{head}>")
            for child in children:
                self._write(child, depth + 1, owner or owner_above, lines)
            lines.append(f"{indent}</{element.tag}>")
        elif element.text:
            lines.append(f"{indent}<{head}>{_escape(element.text)}</{element.tag}>")
        else:
            lines.append(f"{indent}<{head}/>")


_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;",
                 "\r": "&#xd;"}


def _escape(text: str, attribute: bool = False) -> str:
    # XStream's PrettyPrintWriter (XML 1.1 quirks): the five entities, CR as a reference,
    # other control characters as references.
    out = []
    for char in text:
        if char in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[char])
        elif (ord(char) < 0x20 and char not in "\t\n") or 0x7F <= ord(char) <= 0x9F:
            out.append(f"&#x{ord(char):x};")
        else:
            out.append(char)
    return "".join(out)
