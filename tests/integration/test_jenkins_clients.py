"""More unmodified third-party clients against the Jenkins double: jenkinsapi (which talks
``api/python``) and api4jenkins (httpx), each running create / configure / build / console /
delete; and the endpoints behind them, each as the core or Stapler source says.

Like test_jenkins_double.py this needs no Docker: the double is an in-process HTTP server.
Item names follow the engine's service names (upper case, '_': stack services).
"""

from __future__ import annotations

import ast
import secrets
import xml.etree.ElementTree as ET

import api4jenkins
import jenkins
import jenkinsapi.jenkins
import pytest
import requests

from tests.integration.conftest import wait_for
from tests.support.jenkins_double import JenkinsDouble

NAME = "Shop_web-1"
XML = """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job"><description>{description}</description>
<definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition">
<script>pipeline {{ agent any; stages {{ stage('s') {{ steps {{ echo 'hi' }} }} }} }}</script>
<sandbox>true</sandbox></definition></flow-definition>"""
FREESTYLE_XML = """<?xml version='1.1' encoding='UTF-8'?>
<project><description/><builders/></project>"""


@pytest.fixture
def token():
    return secrets.token_hex(16)


@pytest.fixture
def double(token):
    with JenkinsDouble(users={"admin": token}) as jd:
        jd.on_build = lambda path, config, params: ("SUCCESS", f"deployed {path}")
        yield jd


def failed_requests(double):
    return [r for r in double.requests if r.status is None or r.status >= 400]


# -- the client scenarios ---------------------------------------------------------------

def test_jenkinsapi_create_configure_build_console_delete(double, token):
    server = jenkinsapi.jenkins.Jenkins(double.url.rstrip("/"), username="admin",
                                        password=token, timeout=10)
    assert server.version == "2.440.3"
    job = server.create_job(NAME, XML.format(description="v1"))
    job.update_config(XML.format(description="v2"))
    assert "<description>v2</description>" in job.get_config()
    job.invoke(block=True, delay=0.05)
    build = job.get_last_build()
    assert build.get_status() == "SUCCESS"
    assert build.get_console() == f"Started by user admin\ndeployed {NAME}\nFinished: SUCCESS\n"
    assert "Built-In Node" in server.get_nodes().keys()  # noqa: SIM118 - not a dict
    server.delete_job(NAME)
    assert NAME not in server.keys() and double.item_names() == []  # noqa: SIM118
    assert failed_requests(double) == []
    assert any("/api/python" in r.path for r in double.requests)  # what jenkinsapi speaks


def test_api4jenkins_create_configure_build_console_delete(double, token):
    server = api4jenkins.Jenkins(double.url, auth=("admin", token))
    assert server.version == "2.440.3"
    server.create_job(NAME, XML.format(description="v1"))
    job = server.get_job(NAME)
    job.configure(XML.format(description="v2"))
    assert "<description>v2</description>" in job.configure()
    item = job.build()
    build = wait_for(item.get_build, what="the build to start")
    wait_for(lambda: not build.building, what="the build to end")
    assert build.result == "SUCCESS"
    assert "".join(build.console_text()).startswith("Started by user admin")
    lines = ["Started by user admin", f"deployed {NAME}", "Finished: SUCCESS"]
    assert list(build.progressive_output()) == lines
    assert list(build.progressive_output(html=True)) == lines
    assert [node.name for node in server.nodes] == ["(built-in)"]
    job.delete()
    assert server.get_job(NAME) is None and double.item_names() == []
    assert failed_requests(double) == []


# -- the endpoints behind them ------------------------------------------------------------

def test_api_python_is_a_python_literal_and_api_xml_stapler_xml(double, token):
    jenkins.Jenkins(double.url, "admin", token).create_job(NAME, XML.format(description=""))
    auth = ("admin", token)
    python = requests.get(f"{double.url}job/{NAME}/api/python", auth=auth, timeout=5)
    assert python.headers["Content-Type"] == "text/x-python;charset=UTF-8"
    data = ast.literal_eval(python.text)
    assert data["buildable"] is True and data["lastBuild"] is None and data["name"] == NAME
    as_json = requests.get(f"{double.url}job/{NAME}/api/json", auth=auth, timeout=5).json()
    assert data == as_json
    root = ET.fromstring(requests.get(f"{double.url}api/xml", auth=auth, timeout=5).text)
    assert (root.tag, root.get("_class")) == ("hudson", "hudson.model.Hudson")
    # An array is its element repeated under the singular name; null is left out.
    assert [job.findtext("name") for job in root.findall("job")] == [NAME]
    assert root.find("quietDownReason") is None and root.findtext("useCrumbs") == "true"


def test_computer_user_and_progressive_text(double, token):
    auth = ("admin", token)
    computers = requests.get(f"{double.url}computer/api/json", auth=auth, timeout=5).json()
    assert computers["_class"] == "hudson.model.ComputerSet"
    assert [c["displayName"] for c in computers["computer"]] == ["Built-In Node"]
    assert computers["totalExecutors"] == 2 and computers["busyExecutors"] == 0
    user = requests.get(f"{double.url}user/admin/api/json", auth=auth, timeout=5).json()
    assert (user["_class"], user["id"]) == ("hudson.model.User", "admin")
    assert requests.get(f"{double.url}user/nobody/api/json", auth=auth,
                        timeout=5).status_code == 404

    release = []
    double.on_build = lambda *_: (wait_for(lambda: release, timeout=10), ("SUCCESS", "done"))[1]
    server = jenkins.Jenkins(double.url, "admin", token)
    server.create_job(NAME, XML.format(description=""))
    server.build_job(NAME)
    wait_for(lambda: double.builds(NAME), what="the build")
    url = f"{double.url}job/{NAME}/1/logText/progressiveText"
    first = requests.get(url, auth=auth, timeout=5)
    # LineEndNormalizingWriter sends CRLF; X-Text-Size counts the log's own bytes.
    assert first.text == "Started by user admin\r\n"
    assert first.headers["X-More-Data"] == "true"
    assert first.headers["X-Text-Size"] == str(len("Started by user admin\n"))
    release.append(True)
    assert double.wait_idle()
    rest = requests.get(url, params={"start": first.headers["X-Text-Size"]}, auth=auth,
                        timeout=5)
    assert rest.text == "done\r\nFinished: SUCCESS\r\n" and "X-More-Data" not in rest.headers
    # A start past the end: the log "rolled over", all of it again; not a number: 500.
    again = requests.get(url, params={"start": 10_000}, auth=auth, timeout=5)
    assert again.text.startswith("Started by user admin\r\n") and again.text.endswith(rest.text)
    assert requests.get(url, params={"start": "x"}, auth=auth, timeout=5).status_code == 500


def test_jenkinsapi_streams_a_running_builds_log(double, token):
    release = []
    double.on_build = lambda *_: (wait_for(lambda: release, timeout=10), ("SUCCESS", "done"))[1]
    server = jenkinsapi.jenkins.Jenkins(double.url.rstrip("/"), username="admin",
                                        password=token, timeout=10)
    job = server.create_job(NAME, XML.format(description=""))
    build = job.invoke().block_until_building(delay=0.05)
    chunks = []
    for chunk in build.stream_logs(interval=0.05):  # logText/progressiveText until done
        chunks.append(chunk)
        release.append(True)
    assert chunks == ["Started by user admin\r\n", "done\r\nFinished: SUCCESS\r\n"]
    assert failed_requests(double) == []


def test_running_builds_are_their_executors_current_executables(double, token):
    release = []
    double.on_build = lambda *_: (wait_for(lambda: release, timeout=10), ("SUCCESS", "done"))[1]
    server = jenkins.Jenkins(double.url, "admin", token)
    server.create_job("free", FREESTYLE_XML)
    server.create_job(NAME, XML.format(description=""))
    double.clear_requests()  # create_job's probes for the names are 404s
    queued = server.build_job("free")
    server.build_job(NAME)
    wait_for(lambda: double.builds("free") and double.builds(NAME), what="both builds")
    free_url, pipeline_url = f"{double.url}job/free/1/", f"{double.url}job/{NAME}/1/"
    left = server.get_queue_item(queued)
    assert left["executable"] == {"_class": "hudson.model.FreeStyleBuild", "number": 1,
                                  "url": free_url}
    # python-jenkins reads each node's executors: the freestyle build, on executor 0. The
    # Pipeline build runs on a flyweight one-off executor, which it does not read.
    assert server.get_running_builds() == [{"name": "free", "number": 1, "url": free_url,
                                            "node": "(master)", "executor": 0}]
    # api4jenkins reads executors and oneOffExecutors: both.
    nodes = api4jenkins.Jenkins(double.url, auth=("admin", token)).nodes
    assert sorted(b.url for b in nodes.iter_building_builds()) == sorted(
        [free_url, pipeline_url])
    # jenkinsapi reads computer/(built-in)/executors/N one by one.
    executors = list(jenkinsapi.jenkins.Jenkins(
        double.url.rstrip("/"), username="admin", password=token).get_executors("(built-in)"))
    assert [e.is_idle() for e in executors] == [False, True]
    assert executors[0].get_current_executable() == {"_class": "hudson.model.FreeStyleBuild"}
    release.append(True)
    assert double.wait_idle()
    assert server.get_running_builds() == [] and list(nodes.iter_builds()) == []
    assert failed_requests(double) == []


def test_delete_location_400_and_names_as_core_answers(double, token):
    auth = ("admin", token)
    server = jenkins.Jenkins(double.url, "admin", token)
    server.create_job(NAME, XML.format(description=""))
    # HTTP DELETE on an item: AbstractItem.delete -> 204; a POST with an API token and no
    # crumb is accepted (ApiCrumbExclusion).
    assert requests.delete(f"{double.url}job/{NAME}/", auth=auth, timeout=5).status_code == 204
    assert double.item_names() == []
    server.create_job(NAME, XML.format(description=""))
    # ParameterizedJobMixIn.doBuildWithParameters on a job without parameters: 400.
    plain = requests.post(f"{double.url}job/{NAME}/buildWithParameters", auth=auth, timeout=5)
    assert plain.status_code == 400 and f"{NAME} is not parameterized" in plain.text
    # Location is built from the request's Host (Jenkins.getRootUrlFromRequest).
    port = double.url.rsplit(":", 1)[1].rstrip("/")
    built = requests.post(f"http://localhost:{port}/job/{NAME}/build", auth=auth, timeout=5)
    assert built.status_code == 201
    assert built.headers["Location"].startswith(f"http://localhost:{port}/queue/item/")
    listed = requests.get(f"http://localhost:{port}/api/json", auth=auth, timeout=5).json()
    assert listed["jobs"][0]["url"] == f"http://localhost:{port}/job/{NAME}/"
    # Jenkins.checkGoodName: a trailing dot and C1 controls are refused.
    for name, words in (("team.", "cannot end with"), ("te\u0085am", "No control code")):
        refused = requests.post(f"{double.url}createItem", params={"name": name},
                                data=XML.format(description="").encode(), auth=auth,
                                headers={"Content-Type": "text/xml"}, timeout=5)
        assert refused.status_code == 400 and words in refused.headers["X-Error"]
