"""The double stores config.xml as Jenkins does (tests/support/jenkins_double/xstream.py):
each row one rule, with the source it follows in xstream.py's table."""
import xml.etree.ElementTree as ET

import pytest

from pipeline import catalog, render
from pipeline.jobs import xmlnorm
from tests.support.jenkins_double.plugins import PluginManager
from tests.support.jenkins_double.xstream import XStream

PLUGINS = PluginManager()


def xstream(version="2.479.3"):
    return XStream(version, PLUGINS.version_of)


SENT = """<flow-definition>
  <disabled>true</disabled>
  <properties>
    <jenkins.model.BuildDiscarderProperty>
      <strategy class="hudson.tasks.LogRotator"><numToKeep>3</numToKeep><daysToKeep>-1</daysToKeep></strategy>
    </jenkins.model.BuildDiscarderProperty>
    <org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty/>
  </properties>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps@1.0">
    <sandbox>true</sandbox><script>echo "it's" &amp; done</script>
  </definition>
  <my.plugin.Thing><b>2</b><a>1</a></my.plugin.Thing>
</flow-definition>"""  # noqa: E501 (config.xml as Jenkins writes it)


def test_a_stored_pipeline_job_is_written_as_xstream_writes_it():
    stored = xstream().store(SENT)
    assert stored == """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job@1400.v7fd111b_ec82f">
  <actions/>
  <keepDependencies>false</keepDependencies>
  <properties>
    <jenkins.model.BuildDiscarderProperty>
      <strategy class="hudson.tasks.LogRotator">
        <daysToKeep>-1</daysToKeep>
        <numToKeep>3</numToKeep>
        <removeLastBuild>false</removeLastBuild>
      </strategy>
    </jenkins.model.BuildDiscarderProperty>
    <org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>
      <abortPrevious>false</abortPrevious>
    </org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>
  </properties>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps@3894.vd0f0248b_a_fc4">
    <script>echo &quot;it&apos;s&quot; &amp; done</script>
    <sandbox>true</sandbox>
  </definition>
  <triggers/>
  <disabled>true</disabled>
  <my.plugin.Thing>
    <b>2</b>
    <a>1</a>
  </my.plugin.Thing>
</flow-definition>"""  # noqa: E501 (config.xml as Jenkins writes it)


def test_a_core_before_2_474_has_no_remove_last_build():
    assert "removeLastBuild" not in xstream("2.440.3").store(SENT)
    assert "removeLastBuild" in xstream("2.474").store(SENT)


def test_storing_twice_changes_nothing():
    once = xstream().store(SENT)
    assert xstream().store(once) == once


@pytest.mark.parametrize("version", ["2.440.3", "2.479.3"])
def test_what_shipway_renders_is_what_jenkins_holds(version):
    """Every field, in XStream's order: only plugin versions (and, before 2.474, the field
    the core lacks) tell the stored config from the rendered one."""
    cat = catalog.from_data({"name": "demo", "services": {"web": {"image": "r/web", "jenkins": {
        "folder": "team/a", "repo": "https://git.example.com/web.git",
        "scm_credentials": "git-web"}}}})
    for item in render.desired_items(cat):
        stored = xstream(version).store(item.config_xml)
        assert xmlnorm.equivalent(stored, item.config_xml), item.path
        if version >= "2.474":
            assert xmlnorm.canonical_text(stored) == xmlnorm.canonical_text(item.config_xml)


def test_a_declarative_run_adds_its_actions_once_and_moves_the_properties():
    cat = catalog.from_data({"name": "demo", "services": {"web": {"image": "r/web",
                                                                   "jenkins": {"repo": "x"}}}})
    stored = xstream().store(render.render_job_config(cat, "web", "rollback"))
    ran = xstream().declarative_run(stored)
    root = ET.fromstring(ran.split("\n", 1)[1])
    assert [a.tag.rsplit(".", 1)[-1] for a in root.find("actions")] == [
        "DeclarativeJobAction", "DeclarativeJobPropertyTrackerAction"]
    assert 'DeclarativeJobAction plugin="pipeline-model-definition@' in ran
    tracker = root.find("actions")[1]
    assert [s.text for s in tracker.find("jobProperties")] == [
        "jenkins.model.BuildDiscarderProperty",
        "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty"]
    assert [s.text for s in tracker.find("parameters")] == ["RELEASE"]
    # Parameters replaced first, then each option's property removed and added again.
    assert [p.tag.rsplit(".", 1)[-1] for p in root.find("properties")] == [
        "ParametersDefinitionProperty", "BuildDiscarderProperty",
        "DisableConcurrentBuildsJobProperty"]
    again = xstream().declarative_run(ran)
    assert again.count("<org.jenkinsci.plugins.pipeline.modeldefinition.actions."
                       "DeclarativeJobAction") == 1
    assert xmlnorm.equivalent(again, stored)   # what shipway's comparison ignores
