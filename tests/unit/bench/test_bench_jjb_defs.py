"""bench/jobs.py compares shipway with jenkins-job-builder: both must make the same jobs.

The JJB definitions bench/jjb_defs.py writes are turned into config.xml by JJB itself
(`jenkins-jobs test`, offline, in-process) and compared with what shipway renders from the same
catalog: the same item paths and types, and the same settings that make each job what it is.
About 2 s (three in-process JJB runs).
"""
import importlib.util
import logging
import os
import xml.etree.ElementTree as ET

import pytest

from pipeline import catalog as catalogs
from pipeline import render

pytest.importorskip("jenkins_jobs")
_SPEC = importlib.util.spec_from_file_location("jjb_defs", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
    "bench", "jjb_defs.py"))
jjb_defs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(jjb_defs)

SERVICES, CHANGED = 12, 5   # two team folders under the top folder
# What makes each kind of job what it is: (xpath, attribute or None for the text).
SETTINGS = {
    "folder": [],
    "pipeline": [
        ("definition", "class"),
        ("definition/scm", "class"),
        ("definition/scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig/url", None),
        ("definition/scm/branches/hudson.plugins.git.BranchSpec/name", None),
        ("definition/scm/extensions/hudson.plugins.git.extensions.impl.LocalBranch/"
         "localBranch", None),
        ("definition/scriptPath", None),
        ("definition/lightweight", None),
    ],
    "rollback": [
        ("definition", "class"),
        ("definition/script", None),
        ("definition/sandbox", None),
        (".//hudson.model.StringParameterDefinition/name", None),
        (".//hudson.model.StringParameterDefinition/defaultValue", None),
        (".//hudson.model.StringParameterDefinition/trim", None),
    ],
}
JOB_PROPERTIES = [
    ("properties/org.jenkinsci.plugins.workflow.job.properties."
     "DisableConcurrentBuildsJobProperty", "tag"),
    ("properties/jenkins.model.BuildDiscarderProperty/strategy/numToKeep", None),
]


@pytest.fixture(autouse=True)
def root_logger_kept():
    """Importing JJB's CLI calls logging.basicConfig(level=INFO): undo that afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


def jjb_configs(catalog, directory):
    """{item path: config.xml root} as `jenkins-jobs test` generates them (in-process)."""
    from jenkins_jobs.cli.entry import JenkinsJobs

    os.makedirs(directory)
    jobs = os.path.join(directory, "jobs.yaml")
    with open(jobs, "w", encoding="utf-8") as handle:
        handle.write(jjb_defs.jjb_yaml(catalog))
    out = os.path.join(directory, "out")
    JenkinsJobs(["--conf", os.devnull, "test", "--config-xml", "-o", out, jobs]).execute()
    found = {}
    for top, _dirs, files in os.walk(out):
        if "config.xml" in files:
            found[os.path.relpath(top, out)] = ET.parse(os.path.join(top, "config.xml"))
    return {path: tree.getroot() for path, tree in found.items()}


def value(root, xpath, attribute):
    element = root if xpath == "." else root.find(xpath)
    assert element is not None, xpath
    if attribute == "tag":
        return element.tag
    return element.get(attribute) if attribute else (element.text or "")


def load(tmp_path, variant):
    path = tmp_path / f"catalog-{variant}.yml"
    path.write_text(jjb_defs.bench_catalog(SERVICES, changed=CHANGED, variant=variant))
    return catalogs.load(str(path))


def test_jjb_definitions_make_the_jobs_shipway_makes(tmp_path):
    catalog = load(tmp_path, 0)
    shipway = {item.path: item for item in render.desired_items(catalog)}
    jjb = jjb_configs(catalog, str(tmp_path / "jjb"))
    assert sorted(jjb) == sorted(shipway)
    assert len(shipway) == 3 + 2 * SERVICES
    for path, item in shipway.items():
        ours = ET.fromstring(item.config_xml.split("?>", 1)[1])
        theirs = jjb[path]
        assert theirs.tag == ours.tag, path
        settings = [("description", None)] + SETTINGS[item.kind]
        settings += JOB_PROPERTIES if item.kind != "folder" else []
        for xpath, attribute in settings:
            mine = value(ours, xpath, attribute)
            if xpath == "description":
                # JJB appends its own "managed by" comment to every description.
                assert value(theirs, xpath, attribute).startswith(mine), path
            else:
                assert value(theirs, xpath, attribute) == mine, (path, xpath)


def test_the_changed_service_changes_the_same_two_jobs_for_both(tmp_path):
    before, after = load(tmp_path, 0), load(tmp_path, 1)
    jjb_before = jjb_configs(before, str(tmp_path / "before"))
    jjb_after = jjb_configs(after, str(tmp_path / "after"))
    changed_jjb = {path for path in jjb_before
                   if ET.tostring(jjb_before[path]) != ET.tostring(jjb_after[path])}
    rendered = {i.path: i.config_xml for i in render.desired_items(before)}
    changed_shipway = {i.path for i in render.desired_items(after)
                       if i.config_xml != rendered[i.path]}
    name = f"svc-{CHANGED:04d}"
    assert changed_jjb == changed_shipway == {f"bench/team-00/{name}",
                                              f"bench/team-00/{name}-rollback"}
