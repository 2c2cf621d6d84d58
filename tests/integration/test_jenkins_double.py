"""Fidelity of the Jenkins double, proved with unmodified third-party clients.

python-jenkins is used in-process; jenkins-job-builder runs as its own CLI
process.  Nothing here needs Docker or a real Jenkins.  The API token comes
from ``JENKINS_DOUBLE_TOKEN`` or is generated, and only ever travels through
files (JJB's ini file, the standalone server's token file), never argv.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import jenkins
import pytest
import requests

from tests.integration.conftest import wait_for
from tests.support.jenkins_double import JenkinsDouble

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINE_XML = """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job">
  <description>{description}</description>
  <properties>{properties}</properties>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition">
    <script>echo 'hi'</script><sandbox>true</sandbox>
  </definition>
</flow-definition>"""
PARAMS = """<hudson.model.ParametersDefinitionProperty><parameterDefinitions>
  <hudson.model.StringParameterDefinition><name>STACK</name>
    <defaultValue>web</defaultValue></hudson.model.StringParameterDefinition>
  <hudson.model.BooleanParameterDefinition><name>DRY_RUN</name>
    <defaultValue>true</defaultValue></hudson.model.BooleanParameterDefinition>
</parameterDefinitions></hudson.model.ParametersDefinitionProperty>"""
NO_CONCURRENT = ("<org.jenkinsci.plugins.workflow.job.properties."
                 "DisableConcurrentBuildsJobProperty/>")


def pipeline_xml(description="", properties=""):
    return PIPELINE_XML.format(description=description, properties=properties)


@pytest.fixture(scope="module")
def token():
    return os.environ.get("JENKINS_DOUBLE_TOKEN") or secrets.token_hex(16)


@pytest.fixture
def double(token):
    with JenkinsDouble(users={"admin": token, "reader": token + "-r"},
                       readonly_users=["reader"], version="2.440.3") as jd:
        yield jd


@pytest.fixture
def server(double, token):
    return jenkins.Jenkins(double.url, "admin", token, timeout=10)


# -- controller-level endpoints --------------------------------------------------

def test_version_whoami_plugins(server):
    assert server.get_whoami()["id"] == "admin"
    assert server.get_version() == "2.440.3"
    plugins = server.get_plugins()
    for name in ("workflow-aggregator", "workflow-cps", "cloudbees-folder", "git",
                 "credentials-binding"):
        assert plugins[name]["active"] is True
    assert plugins["Pipeline"]["shortName"] == "workflow-aggregator"  # long-name key
    assert plugins["git"]["version"] >= "5.0"  # python-jenkins' version comparison


def test_get_version_as_first_call_is_anonymous_like_on_real_jenkins(double, token):
    # python-jenkins only attaches credentials once another call resolved them;
    # a secured Jenkins answers the anonymous GET / with 403.
    with pytest.raises(jenkins.BadHTTPException):
        jenkins.Jenkins(double.url, "admin", token).get_version()


def test_wrong_token_is_401_and_anonymous_is_403(double):
    with pytest.raises(jenkins.JenkinsException, match=r"\[401\]"):
        jenkins.Jenkins(double.url, "admin", "not-the-token").get_whoami()
    wrong = requests.get(f"{double.url}api/json", auth=("admin", "nope"), timeout=5)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Basic realm="Jenkins"'
    anonymous = requests.get(f"{double.url}api/json", timeout=5)
    assert anonymous.status_code == 403
    assert anonymous.headers["X-You-Are-Authenticated-As"] == "anonymous"
    assert all(r.headers["X-Jenkins"] == "2.440.3" for r in (wrong, anonymous))


@pytest.fixture
def strict(token):
    """A Jenkins that wants crumbs from API-token requests too (before 2.96)."""
    with JenkinsDouble(users={"admin": token}, crumb_exempt_api_tokens=False) as jd:
        yield jd


def test_api_token_posts_need_no_crumb_as_in_core_api_crumb_exclusion(double, token):
    # core jenkins/security/ApiCrumbExclusion.java: a request BasicHeaderApiTokenAuthenticator
    # authenticated passes the CrumbFilter without a crumb.
    done = requests.post(f"{double.url}createItem?name=x", auth=("admin", token),
                         data=pipeline_xml().encode(), headers={"Content-Type": "text/xml"},
                         timeout=5)
    assert done.status_code == 200 and double.item_names() == ["x"]


def test_crumb_is_required_and_bound_to_the_session(strict, token):
    double = strict
    url = f"{double.url}createItem?name=x"
    xml = {"data": pipeline_xml().encode(), "headers": {"Content-Type": "text/xml"}}
    with requests.Session() as session:
        session.auth = ("admin", token)
        refused = session.post(url, timeout=5, **xml)
        assert refused.status_code == 403
        assert "No valid crumb was included in the request" in refused.text
        crumb = session.get(f"{double.url}crumbIssuer/api/json", timeout=5).json()
        assert crumb["crumbRequestField"] == "Jenkins-Crumb"
        header = {crumb["crumbRequestField"]: crumb["crumb"], "Content-Type": "text/xml"}
        # Same crumb without the session cookie it was issued in: refused.
        cookieless = requests.post(url, auth=("admin", token), timeout=5,
                                   data=xml["data"], headers=header)
        assert cookieless.status_code == 403
        assert session.post(url, data=xml["data"], headers=header, timeout=5).status_code == 200
    assert double.item_names() == ["x"]


def test_restart_invalidates_crumbs_but_keeps_items(strict, token):
    double, server = strict, jenkins.Jenkins(strict.url, "admin", token, timeout=10)
    server.create_job("kept", pipeline_xml())
    double.restart()
    with pytest.raises(jenkins.JenkinsException, match="No valid crumb"):
        server.create_job("after", pipeline_xml())  # stale crumb, dead session
    server.crumb = None  # what a client must do: fetch a fresh crumb
    server.create_job("after", pipeline_xml())
    assert double.item_names() == ["after", "kept"]


def test_csrf_disabled_crumb_issuer_404_and_clients_cope(token):
    with JenkinsDouble(users={"admin": token}, csrf=False) as jd:
        server = jenkins.Jenkins(jd.url, "admin", token)
        server.create_job("j", pipeline_xml())
        assert server.crumb is False  # python-jenkins saw the 404
        assert jd.item_names() == ["j"]
        assert ("GET", "/crumbIssuer/api/json", 404) in jd.requests


# -- items --------------------------------------------------------------------------

def test_folder_and_job_lifecycle(server, double):
    server.create_folder("shipway")
    assert server.is_folder("shipway")
    server.create_job("shipway/deploy", pipeline_xml("v1"))
    assert server.job_exists("shipway/deploy")
    assert not server.job_exists("shipway/missing")
    assert "<description>v1</description>" in server.get_job_config("shipway/deploy")
    server.reconfig_job("shipway/deploy", pipeline_xml("v2"))
    # Served from memory, re-serialised (core AbstractItem.writeConfigDotXml): every field
    # written, in declaration order, plugin versions stamped.
    served = server.get_job_config("shipway/deploy")
    assert served.startswith("<?xml version='1.1' encoding='UTF-8'?>\n"
                             '<flow-definition plugin="workflow-job@1400.v7fd111b_ec82f">\n'
                             "  <actions/>\n  <description>v2</description>\n"
                             "  <keepDependencies>false</keepDependencies>\n")
    assert served.endswith("  <triggers/>\n  <disabled>false</disabled>\n</flow-definition>")
    assert 'plugin="workflow-cps@3894.vd0f0248b_a_fc4"' in served
    assert server.get_job_info("shipway/deploy")["description"] == "v2"

    top = server.get_jobs(folder_depth=0)
    assert [(j["fullname"], j["_class"]) for j in top] == [
        ("shipway", "com.cloudbees.hudson.plugins.folder.Folder")]
    every = {j["fullname"]: j for j in server.get_all_jobs()}
    assert set(every) == {"shipway", "shipway/deploy"}
    assert every["shipway/deploy"]["color"] == "notbuilt"
    assert every["shipway/deploy"]["url"] == f"{double.url}job/shipway/job/deploy/"

    server.delete_job("shipway/deploy")
    assert not server.job_exists("shipway/deploy")
    server.delete_job("shipway")
    assert server.get_all_jobs() == [] and double.item_names() == []


def test_deep_folders_are_fetched_again_below_the_tree_depth(server, double):
    path = "a"
    server.create_folder(path)
    for name in "bcde":
        path += "/" + name
        server.create_folder(path)
    double.clear_requests()
    names = [j["fullname"] for j in server.get_all_jobs(folder_depth_per_request=2)]
    assert names == ["a", "a/b", "a/b/c", "a/b/c/d", "a/b/c/d/e"]
    # empty {"_class"} children made python-jenkins ask again for a/b and a/b/c/d
    assert double.count("reads", r"^/(job/a/job/b/|job/a/job/b/job/c/job/d/)?api/json") == 3


def test_create_errors_match_jenkins(server, double, token):
    server.create_job("dup", pipeline_xml())
    with pytest.raises(jenkins.JenkinsException, match="already exists"):
        server.create_job("dup", pipeline_xml())
    with pytest.raises(jenkins.JenkinsException, match="folder for the job does not exist"):
        server.create_job("nofolder/job", pipeline_xml())
    server.crumb = None  # raw requests below reuse python-jenkins' session and crumb
    server.maybe_add_crumb(req := requests.Request("POST", f"{double.url}createItem"))
    session, headers = server._session, dict(req.headers, **{"Content-Type": "text/xml"})
    again = session.post(f"{double.url}createItem?name=DUP", data=pipeline_xml(),
                         headers=headers, timeout=5)
    assert again.status_code == 400  # names are case-insensitive
    # Jenkins quotes the name with ‘’, which cannot travel in a latin-1 header.
    assert re.fullmatch(r"A job already exists with the name .DUP.", again.headers["X-Error"])
    bad = session.post(f"{double.url}createItem?name=bad", data=b"<flow-definition>",
                       headers=headers, timeout=5)
    assert bad.status_code == 500 and "SAXParseException" in bad.text
    unsafe = session.post(f"{double.url}createItem?name=a%3Bb", data=pipeline_xml(),
                          headers=headers, timeout=5)
    assert unsafe.status_code == 400 and "unsafe character" in unsafe.headers["X-Error"]
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        server.reconfig_job("dup", "<com.cloudbees.hudson.plugins.folder.Folder/>")
    assert double.item_names() == ["dup"]


def test_readonly_user_can_read_but_not_write(double, token):
    reader = jenkins.Jenkins(double.url, "reader", token + "-r")
    assert reader.get_all_jobs() == []
    with pytest.raises(jenkins.JenkinsException, match=r"\[403\]"):
        reader.create_job("x", pipeline_xml())
    assert double.item_names() == []


def test_enable_disable_copy_rename(server, double):
    server.create_job("p", pipeline_xml())
    server.disable_job("p")
    info = server.get_job_info("p")
    assert info["disabled"] is True and info["color"] == "disabled"
    assert "<disabled>true</disabled>" in server.get_job_config("p")
    with pytest.raises(requests.HTTPError) as refused:
        server.build_job("p")
    assert refused.value.response.status_code == 409
    server.enable_job("p")
    assert server.get_job_info("p")["buildable"] is True
    server.copy_job("p", "p2")
    server.rename_job("p2", "p3")
    assert double.item_names() == ["p", "p3"]


# -- builds -------------------------------------------------------------------------

def test_build_lifecycle_through_the_queue(server, double):
    release = threading.Event()
    seen = []

    def executor(job_path, config_xml, params):
        seen.append((job_path, params, "<script>" in config_xml))
        release.wait(5)
        return "UNSTABLE", "step 1\nstep 2", "deployed web"

    double.on_build = executor
    server.create_folder("f")
    server.create_job("f/deploy", pipeline_xml(properties=PARAMS))
    queue_id = server.build_job("f/deploy", {"STACK": "api"})
    item = wait_for(lambda: server.get_queue_item(queue_id).get("executable") and
                    server.get_queue_item(queue_id))
    assert item["_class"] == "hudson.model.Queue$LeftItem"
    number = item["executable"]["number"]
    running = server.get_build_info("f/deploy", number)
    assert running["building"] is True and running["result"] is None
    assert server.get_job_info("f/deploy")["color"] == "notbuilt_anime"
    assert server.get_build_console_output("f/deploy", number) == "Started by user admin\n"
    release.set()
    done = wait_for(lambda: (b := server.get_build_info("f/deploy", number))["result"] and b)
    assert (done["result"], done["building"], done["description"]) == (
        "UNSTABLE", False, "deployed web")
    params = {p["name"]: p["value"] for a in done["actions"] for p in a.get("parameters", [])}
    assert params == {"STACK": "api", "DRY_RUN": True}
    assert seen == [("f/deploy", {"STACK": "api", "DRY_RUN": "true"}, True)]
    assert server.get_build_console_output("f/deploy", number) == (
        "Started by user admin\nstep 1\nstep 2\nFinished: UNSTABLE\n")
    last = server.get_job_info("f/deploy")
    assert last["lastBuild"]["number"] == number and last["color"] == "yellow"
    assert last["lastSuccessfulBuild"]["number"] == number  # UNSTABLE counts
    assert last["lastStableBuild"] is None


def test_non_concurrent_job_blocks_and_identical_requests_merge(server, double):
    release = threading.Event()
    double.on_build = lambda *_: (release.wait(5), ("SUCCESS", "ok"))[1]
    server.create_job("solo", pipeline_xml(properties=NO_CONCURRENT))
    first = server.build_job("solo")
    wait_for(lambda: server.get_queue_item(first).get("executable"))
    second = server.build_job("solo")
    blocked = wait_for(lambda: (i := server.get_queue_item(second))["blocked"] and i)
    assert blocked["_class"] == "hudson.model.Queue$BlockedItem"
    assert blocked["why"].startswith("Build #1 is already in progress")
    assert server.build_job("solo") == second  # merged into the waiting item
    assert [i["id"] for i in server.get_queue_info()] == [second]
    release.set()
    assert double.wait_idle()
    assert [b["result"] for b in double.builds("solo")] == ["SUCCESS", "SUCCESS"]


def test_parameterized_job_rules(server, double, token):
    server.create_job("plain", pipeline_xml())
    # core ParameterizedJobMixIn.doBuildWithParameters: 400 "<job> is not parameterized"
    with pytest.raises(requests.HTTPError) as plain:
        server.build_job("plain", {"X": "1"})  # buildWithParameters, not parameterized
    assert plain.value.response.status_code == 400
    server.create_job("param", pipeline_xml(properties=PARAMS))
    with pytest.raises(requests.HTTPError) as nothing:
        server.build_job("param")  # /build without a form
    assert nothing.value.response.status_code == 400
    assert double.wait_idle()
    assert double.builds("param") == []


# -- faults and the request log -----------------------------------------------------

def test_fault_injection_and_request_counts(server, double):
    server.get_whoami()
    double.clear_requests()
    double.faults.add(status=503, count=2, path_regex=r"^/api/json")
    for _ in range(2):
        with pytest.raises(jenkins.BadHTTPException):
            server.get_all_jobs()
    assert server.get_all_jobs() == []
    assert [r.status for r in double.requests] == [503, 503, 200]

    double.faults.add(reset=True, method="POST", path_regex="createItem")
    with pytest.raises(requests.ConnectionError):
        server.create_job("lost", pipeline_xml())
    assert double.item_names() == []  # failed before Jenkins saw it

    double.faults.add(reset=True, after=True, path_regex="createItem")
    with pytest.raises(requests.ConnectionError):
        server.create_job("landed", pipeline_xml())
    assert double.item_names() == ["landed"]  # done, but the answer was lost

    assert double.count("writes") == 2
    assert double.count("reads") == double.count() - 2
    assert (None in {r.status for r in double.requests})


# -- jenkins-job-builder CLI ----------------------------------------------------------

JJB_YAML = """\
- job:
    name: shipway
    project-type: folder
    description: Shipway jobs
- job:
    name: shipway/deploy
    project-type: pipeline
    description: Deploy the stack
    parameters:
      - string:
          name: STACK
          default: web
    dsl: |
      pipeline {{ agent any; stages {{ stage('deploy') {{ steps {{ echo 'hi' }} }} }} }}
"""


def test_jenkins_job_builder_update_noop_and_delete(double, token, tmp_path):
    ini = tmp_path / "jenkins_jobs.ini"
    ini.write_text(f"[jenkins]\nurl={double.url}\nuser=admin\npassword={token}\n")
    ini.chmod(0o600)
    (tmp_path / "jobs.yaml").write_text(JJB_YAML)
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))

    def jjb(*args):
        double.clear_requests()
        done = subprocess.run([sys.executable, "-m", "jenkins_jobs", "--conf", str(ini),
                               *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert token not in done.stderr + done.stdout
        return done

    jjb("update", "jobs.yaml")
    assert double.item_names() == ["shipway", "shipway/deploy"]
    assert double.item_class("shipway") == "com.cloudbees.hudson.plugins.folder.Folder"
    assert double.item_class("shipway/deploy") == \
        "org.jenkinsci.plugins.workflow.job.WorkflowJob"
    assert "<name>STACK</name>" in double.config_xml("shipway/deploy")
    assert double.count("writes", "createItem") == 2

    jjb("update", "jobs.yaml")  # unchanged: JJB's cache says so, Jenkins is not asked
    assert double.count() == 0

    forced = jjb("--ignore-cache", "update", "jobs.yaml")
    assert "Reconfiguring jenkins job shipway/deploy" in forced.stderr
    assert double.count("writes", r"config\.xml$") == 2
    assert double.count("writes", "createItem") == 0

    # Children first: deleting the folder first would leave JJB's job list
    # stale and its next doDelete would 404, as on a real Jenkins.
    jjb("delete", "-p", "jobs.yaml", "shipway/deploy")
    assert double.item_names() == ["shipway"]
    jjb("delete", "-p", "jobs.yaml", "shipway")
    assert double.item_names() == []


# -- standalone server ----------------------------------------------------------------

def test_standalone_main_reads_token_from_file(token, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    with subprocess.Popen(
            [sys.executable, "-m", "tests.support.jenkins_double", "--port", "0",
             "--user", "admin", "--token-file", str(token_file)],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT))) as proc:
        try:
            line = proc.stdout.readline()
            url = re.search(r"http://\S+/", line).group(0)
            assert jenkins.Jenkins(url, "admin", token).get_whoami()["id"] == "admin"
        finally:
            proc.terminate()
        assert proc.wait(10) == 0
