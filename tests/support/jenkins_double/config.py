"""config.xml handling: item type detection, validation and the bits builds need.

Jenkins decides an item's class from the root element of its config.xml
(XStream aliases), refuses XML it cannot parse with a 500, and refuses a
config.xml POST that would change the item's class.  This module reproduces
those rules for the item types the double supports.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Optional

from .errors import Failure, ServerError


@dataclass(frozen=True)
class ItemType:
    """A supported TopLevelItem type."""

    root_tag: str       # config.xml root element (XStream alias)
    java_class: str     # ``_class`` and createItem ``mode=`` value
    plugin: str         # plugin that provides it ("" for core)
    is_folder: bool
    run_class: str = ""  # class of its builds, "" for folders


FREESTYLE = ItemType("project", "hudson.model.FreeStyleProject", "", False,
                     "hudson.model.FreeStyleBuild")
PIPELINE = ItemType("flow-definition",
                    "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                    "workflow-job", False,
                    "org.jenkinsci.plugins.workflow.job.WorkflowRun")
FOLDER = ItemType("com.cloudbees.hudson.plugins.folder.Folder",
                  "com.cloudbees.hudson.plugins.folder.Folder",
                  "cloudbees-folder", True)

ITEM_TYPES = (FREESTYLE, PIPELINE, FOLDER)
BY_ROOT_TAG = {t.root_tag: t for t in ITEM_TYPES}
BY_CLASS = {t.java_class: t for t in ITEM_TYPES}

# Characters Jenkins.checkGoodName rejects.
UNSAFE_CHARS = "?*/\\%!@#$^&|<>[]:;"

# The XML Jenkins writes when an item is created from a createItem form
# (mode=<class>) rather than from a posted config.xml.
DEFAULT_CONFIGS = {
    FREESTYLE: "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n"
               "  <keepDependencies>false</keepDependencies>\n"
               "  <properties/>\n  <scm class=\"hudson.scm.NullSCM\"/>\n"
               "  <canRoam>true</canRoam>\n  <disabled>false</disabled>\n"
               "  <blockBuildWhenDownstreamBuilding>false"
               "</blockBuildWhenDownstreamBuilding>\n"
               "  <blockBuildWhenUpstreamBuilding>false"
               "</blockBuildWhenUpstreamBuilding>\n"
               "  <triggers/>\n  <concurrentBuild>false</concurrentBuild>\n"
               "  <builders/>\n  <publishers/>\n  <buildWrappers/>\n</project>",
    PIPELINE: "<?xml version='1.1' encoding='UTF-8'?>\n"
              "<flow-definition plugin=\"workflow-job\">\n  <actions/>\n"
              "  <description></description>\n"
              "  <keepDependencies>false</keepDependencies>\n"
              "  <properties/>\n  <triggers/>\n  <disabled>false</disabled>\n"
              "</flow-definition>",
    FOLDER: "<?xml version='1.1' encoding='UTF-8'?>\n"
            "<com.cloudbees.hudson.plugins.folder.Folder "
            "plugin=\"cloudbees-folder\">\n  <actions/>\n"
            "  <description></description>\n  <properties/>\n"
            "  <folderViews/>\n  <healthMetrics/>\n"
            "</com.cloudbees.hudson.plugins.folder.Folder>",
}


@dataclass(frozen=True)
class ParamDef:
    """A build parameter definition from ParametersDefinitionProperty."""

    kind: str            # e.g. "StringParameterDefinition"
    name: str
    default: str
    description: str = ""
    choices: tuple[str, ...] = ()


@dataclass
class ParsedConfig:
    """What the double needs to know about an item from its config.xml."""

    item_type: ItemType
    description: Optional[str] = None
    display_name: Optional[str] = None
    disabled: bool = False
    concurrent: bool = False
    params: list[ParamDef] = field(default_factory=list)


def check_good_name(name: Optional[str]) -> str:
    """Validate an item name like core ``Jenkins.checkGoodName``; return it trimmed.

    In its order: empty; "." and ".."; ``Character.isISOControl`` (C0, DEL and C1), shown
    as ``\\uNNN;`` (``toPrintableName``); the unsafe characters; a trailing "."
    (SECURITY-2424, on by default). Messages: core hudson/model/Messages.properties.
    """
    if name is None or not name:
        raise Failure("No name is specified")
    if name.strip() in (".", ".."):
        raise Failure(f"“{name.strip()}” is not an allowed name")
    for ch in name:
        if ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F:
            printable = "".join(f"\\u{ord(c)};" if ord(c) < 32 or 0x7F <= ord(c) <= 0x9F
                                else c for c in name)
            raise Failure(f"No control code is allowed: {printable}")
        if ch in UNSAFE_CHARS:
            raise Failure(f"‘{ch}’ is an unsafe character")
    if name.strip().endswith("."):
        raise Failure("A name cannot end with ‘.’")
    if not name.strip():
        raise Failure("No name is specified")
    return name.strip()


def parse_config(xml: bytes) -> ParsedConfig:
    """Parse a posted config.xml; 500 for malformed XML or an unknown class."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        line, column = exc.position
        raise ServerError(
            "java.io.IOException: Failed to persist config.xml",
            "Caused by: org.xml.sax.SAXParseException; "
            f"lineNumber: {line}; columnNumber: {column + 1}; {exc}") from exc
    item_type = BY_ROOT_TAG.get(root.tag)
    if item_type is None:
        raise ServerError(
            "java.io.IOException: Unable to read config.xml",
            "com.thoughtworks.xstream.mapper.CannotResolveClassException: "
            f"{root.tag}")
    parsed = ParsedConfig(item_type=item_type,
                          description=_text(root, "description"),
                          display_name=_text(root, "displayName") or None)
    if item_type.is_folder:
        return parsed
    parsed.disabled = (_text(root, "disabled") or "").strip() == "true"
    if item_type is FREESTYLE:
        parsed.concurrent = (_text(root, "concurrentBuild") or "") == "true"
    else:
        # Pipelines run concurrently unless disableConcurrentBuilds() is set.
        parsed.concurrent = root.find(
            "properties/org.jenkinsci.plugins.workflow.job.properties."
            "DisableConcurrentBuildsJobProperty") is None
    parsed.params = _param_defs(root)
    return parsed


def set_disabled(xml: str, disabled: bool) -> str:
    """Rewrite ``<disabled>`` in a job's config.xml, as Jenkins' save() would."""
    root = ET.fromstring(xml.encode("utf-8"))
    element = root.find("disabled")
    if element is None:
        element = ET.SubElement(root, "disabled")
    element.text = "true" if disabled else "false"
    body = ET.tostring(root, encoding="unicode")
    # XStream writes XML 1.1 declarations when Jenkins saves an item.
    return "<?xml version='1.1' encoding='UTF-8'?>\n" + body


def _text(root: ET.Element, tag: str) -> Optional[str]:
    element = root.find(tag)
    return None if element is None else (element.text or "")


def _param_defs(root: ET.Element) -> list[ParamDef]:
    container = root.find(
        ".//hudson.model.ParametersDefinitionProperty/parameterDefinitions")
    if container is None:
        return []
    defs = []
    for element in container:
        kind = element.tag.rsplit(".", 1)[-1]
        name = _text(element, "name")
        if not name:
            continue
        choices = tuple(s.text or "" for s in element.iter("string"))
        if kind == "ChoiceParameterDefinition":
            default = choices[0] if choices else ""
        elif kind == "BooleanParameterDefinition":
            default = "true" if _text(element, "defaultValue") == "true" else "false"
        else:
            default = _text(element, "defaultValue") or ""
        defs.append(ParamDef(kind, name, default,
                             _text(element, "description") or "", choices))
    return defs
