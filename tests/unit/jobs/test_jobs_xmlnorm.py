"""config.xml normalisation: what counts as the same configuration, what as drift."""
import xml.etree.ElementTree as ET

import pytest

from pipeline.jobs import xmlnorm

BASE = """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job@1400.v7fd111b_ec82f">
  <description>Builds hello
[shipway-catalog=demo]</description>
  <keepDependencies>false</keepDependencies>
  <properties/>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps@3894">
    <script>node {
  sh 'make'
}</script>
    <sandbox>true</sandbox>
  </definition>
</flow-definition>
"""  # noqa: E501 (config.xml as Jenkins writes it)

DECLARATIVE_ACTIONS = """  <actions>
    <org.jenkinsci.plugins.pipeline.modeldefinition.actions.DeclarativeJobAction plugin="pipeline-model-definition@2.2218"/>
    <org.jenkinsci.plugins.pipeline.modeldefinition.actions.DeclarativeJobPropertyTrackerAction plugin="pipeline-model-definition@2.2218">
      <jobProperties><string>jenkins.model.BuildDiscarderProperty</string></jobProperties>
      <triggers/><parameters/><options/>
    </org.jenkinsci.plugins.pipeline.modeldefinition.actions.DeclarativeJobPropertyTrackerAction>
  </actions>
"""  # noqa: E501 (config.xml as Jenkins writes it)

# Same configuration, as Jenkins or another writer might hand it back.
EQUIVALENT = [
    ("no declaration", BASE.split("\n", 1)[1]),
    ("XML 1.0 declaration", BASE.replace("version='1.1' encoding='UTF-8'",
                                         'version="1.0" encoding="utf-8"')),
    ("other plugin versions", BASE.replace("@1400.v7fd111b_ec82f", "@1500.x")
                                  .replace("@3894", "@4000")),
    ("no plugin attributes", BASE.replace(' plugin="workflow-job@1400.v7fd111b_ec82f"', "")
                                 .replace(' plugin="workflow-cps@3894"', "")),
    ("no indentation", '<flow-definition plugin="workflow-job@1400.v7fd111b_ec82f">'
                       "<description>Builds hello\n[shipway-catalog=demo]</description>"
                       "<keepDependencies>false</keepDependencies><properties/>"
                       '<definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition"'
                       ' plugin="workflow-cps@3894"><script>node {\n  sh \'make\'\n}</script>'
                       "<sandbox>true</sandbox></definition></flow-definition>"),
    ("empty element written open/close", BASE.replace("<properties/>",
                                                       "<properties></properties>")),
    ("empty element with whitespace", BASE.replace("<properties/>",
                                                    "<properties>\n  </properties>")),
    ("attribute order", BASE.replace(
        '<definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" '
        'plugin="workflow-cps@3894">',
        '<definition plugin="workflow-cps@3894" '
        'class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition">')),
    ("single-quoted attributes", BASE.replace(
        'class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition"',
        "class='org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition'")),
    ("a comment", BASE.replace("<properties/>", "<properties/><!-- edited by hand -->")),
    ("entity spelling", BASE.replace("sh 'make'", "sh &apos;make&apos;")),
    ("CRLF line ends", BASE.replace("\n", "\r\n")),
    ("bytes", BASE.encode("utf-8")),
    ("byte order mark", "\ufeff" + BASE),
    # XStream writes fields in declaration order, whatever order they were posted in.
    ("field order", BASE.replace(
        "  <keepDependencies>false</keepDependencies>\n  <properties/>\n",
        "  <properties/>\n  <keepDependencies>false</keepDependencies>\n")),
    # What a declarative pipeline's first build adds to the job (pipeline-model-definition).
    ("declarative actions",
     BASE.replace("  <description>", DECLARATIVE_ACTIONS + "  <description>")),
]

# A real change in the configuration.
DIFFERENT = [
    ("description text", BASE.replace("Builds hello", "Builds hello!")),
    ("marker removed", BASE.replace("\n[shipway-catalog=demo]", "")),
    ("script whitespace", BASE.replace("  sh 'make'", "    sh 'make'")),
    ("script trailing newline", BASE.replace("}</script>", "}\n</script>")),
    ("boolean flipped", BASE.replace("<sandbox>true", "<sandbox>false")),
    ("element added", BASE.replace("<properties/>", "<properties/><disabled>true</disabled>")),
    ("element removed", BASE.replace("  <keepDependencies>false</keepDependencies>\n", "")),
    ("class attribute", BASE.replace("CpsFlowDefinition\"", "CpsScmFlowDefinition\"")),
    ("non-plugin attribute added", BASE.replace("<properties/>", '<properties a="1"/>')),
]


PROPERTIES = """<flow-definition>
  <actions/>
  <properties>
    <org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>
      <abortPrevious>false</abortPrevious>
    </org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>
    <jenkins.model.BuildDiscarderProperty>
      <strategy class="hudson.tasks.LogRotator">
        <daysToKeep>-1</daysToKeep>
        <numToKeep>30</numToKeep>
        <artifactDaysToKeep>-1</artifactDaysToKeep>
        <artifactNumToKeep>-1</artifactNumToKeep>
        <removeLastBuild>false</removeLastBuild>
      </strategy>
    </jenkins.model.BuildDiscarderProperty>
    <hudson.model.ParametersDefinitionProperty>
      <parameterDefinitions>
        <hudson.model.StringParameterDefinition><name>A</name></hudson.model.StringParameterDefinition>
        <hudson.model.StringParameterDefinition><name>B</name></hudson.model.StringParameterDefinition>
      </parameterDefinitions>
    </hudson.model.ParametersDefinitionProperty>
  </properties>
</flow-definition>
"""
DISCARDER = PROPERTIES[PROPERTIES.index("    <jenkins.model.BuildDiscarderProperty>"):
                       PROPERTIES.index("    <hudson.model.ParametersDefinitionProperty>")]


@pytest.mark.parametrize("name,variant", [
    # A core before 2.474 has no removeLastBuild (it drops the field), a workflow-job
    # before 2.42 no abortPrevious: the field at its default is the field missing.
    ("older core", PROPERTIES.replace("        <removeLastBuild>false</removeLastBuild>\n", "")),
    ("older workflow-job", PROPERTIES.replace("<abortPrevious>false</abortPrevious>", "")),
    # Declarative's properties step removes and re-adds the properties it manages.
    ("properties re-added in another order",
     PROPERTIES.replace(DISCARDER, "").replace("  </properties>", DISCARDER + "  </properties>")),
    ("no <actions/> at all", PROPERTIES.replace("  <actions/>\n", "")),
])
def test_what_jenkins_does_by_itself_is_not_drift(name, variant):
    assert xmlnorm.equivalent(PROPERTIES, variant)
    assert xmlnorm.unified_diff(PROPERTIES, variant, "x") == ""


@pytest.mark.parametrize("name,variant", [
    ("removeLastBuild turned on",
     PROPERTIES.replace("<removeLastBuild>false", "<removeLastBuild>true")),
    ("abortPrevious turned on", PROPERTIES.replace("<abortPrevious>false", "<abortPrevious>true")),
    ("list entries swapped", PROPERTIES.replace("<name>A</name>", "<name>X</name>")
     .replace("<name>B</name>", "<name>A</name>").replace("<name>X</name>", "<name>B</name>")),
    ("an action someone added",
     PROPERTIES.replace("<actions/>", "<actions><my.Action/></actions>")),
    ("numToKeep", PROPERTIES.replace("<numToKeep>30", "<numToKeep>5")),
])
def test_hand_edits_next_to_what_jenkins_adds_are_still_drift(name, variant):
    assert not xmlnorm.equivalent(PROPERTIES, variant)
    assert not xmlnorm.equivalent(PROPERTIES.replace("<actions/>", DECLARATIVE_ACTIONS.strip()),
                                  variant)


def test_declarative_actions_count_only_in_the_item_s_own_actions():
    nested = BASE.replace("<properties/>", "<properties>" + DECLARATIVE_ACTIONS + "</properties>")
    assert not xmlnorm.equivalent(BASE, nested)


@pytest.mark.parametrize("name,variant", EQUIVALENT, ids=[c[0] for c in EQUIVALENT])
def test_equivalent_variants(name, variant):
    assert xmlnorm.equivalent(BASE, variant)
    assert xmlnorm.canonical_text(BASE) == xmlnorm.canonical_text(variant)


@pytest.mark.parametrize("name,variant", DIFFERENT, ids=[c[0] for c in DIFFERENT])
def test_real_changes_are_drift(name, variant):
    assert not xmlnorm.equivalent(BASE, variant)
    # The fast key and the canonical tree diffs are shown from agree.
    assert xmlnorm.canonical_text(BASE) != xmlnorm.canonical_text(variant)


def test_canonical_text_is_pretty_sorted_and_without_declaration():
    text = xmlnorm.canonical_text('<?xml version="1.0"?><a z="1" plugin="p@1" b="2">'
                                  "<c>x</c><d/></a>")
    assert text == '<a b="2" z="1">\n  <c>x</c>\n  <d />\n</a>\n'


def test_unified_diff_shows_the_changed_line_only():
    changed = BASE.replace("<sandbox>true", "<sandbox>false")
    diff = xmlnorm.unified_diff(BASE, changed, "demo/hello")
    assert diff.startswith("--- jenkins/demo/hello/config.xml\n+++ catalog/demo/hello/config.xml")
    removed = [ln for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [ln for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert removed == ["-    <sandbox>true</sandbox>"]
    assert added == ["+    <sandbox>false</sandbox>"]


def test_unified_diff_of_a_missing_item_is_all_additions():
    diff = xmlnorm.unified_diff(None, BASE, "demo/hello")
    assert diff.startswith("--- /dev/null\n+++ catalog/demo/hello/config.xml")
    assert "-" not in "".join(ln[0] for ln in diff.splitlines()[2:] if not ln.startswith("@@"))


def test_equal_configs_have_no_diff():
    assert xmlnorm.unified_diff(BASE, BASE.replace("@3894", "@1"), "x") == ""


@pytest.mark.parametrize("bad", ["", "not xml", "<a><b></a>", "<a/><b/>"])
def test_unparsable_xml_raises_xml_error(bad):
    with pytest.raises(xmlnorm.XmlError, match="does not parse"):
        xmlnorm.parse(bad)


def test_root_tag():
    assert xmlnorm.root_tag(BASE) == "flow-definition"
    assert xmlnorm.fingerprint(BASE)[0] == "flow-definition"


def test_an_update_keeps_the_actions_jenkins_added():
    live = PROPERTIES.replace("<actions/>", DECLARATIVE_ACTIONS.strip().replace(
        "</actions>", "<my.Action/></actions>"))
    desired = PROPERTIES.replace("<numToKeep>30", "<numToKeep>5")
    kept = xmlnorm.with_jenkins_actions(desired, live)
    root = ET.fromstring(kept)
    assert [a.tag.rsplit(".", 1)[-1] for a in root.find("actions")] == [
        "DeclarativeJobAction", "DeclarativeJobPropertyTrackerAction"]   # not my.Action
    assert xmlnorm.equivalent(kept, desired)
    assert xmlnorm.with_jenkins_actions(desired, PROPERTIES) == desired
    assert xmlnorm.with_jenkins_actions(desired, "<not xml") == desired
