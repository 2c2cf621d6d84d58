"""The rollback button pressed the way a person would: POST `build` on the rollback job.

The catalog's jobs are provisioned on the Jenkins API double with `shipway jobs sync`; the
double runs a triggered rollback job's inline script (from its config.xml) in the Groovy
pipeline harness, where `sh` runs the real `shipway` against the lab. The Docker API then shows
the service's tasks back on the previous release's digest.
"""
import os
import secrets
import stat
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.integration.conftest import ROOT, running_digests, write_catalog
from tests.support.groovy import groovy_available, run_pipeline
from tests.support.jenkins_double import JenkinsDouble
from tests.support.poll import poll_until

pytestmark = [pytest.mark.integration, pytest.mark.groovy,
              pytest.mark.skipif(not groovy_available(), reason="groovy/groovyc not installed")]


def harness_builds(workdir, env, credentials, answers=(), results=None):
    """An on_build hook for the double: run the job's inline pipeline script in the harness
    (`answers`: what people answer its inputs; each HarnessResult is appended to `results`)."""
    def on_build(job_path, config_xml, params):
        script = ET.fromstring(config_xml).find("./definition/script").text
        work = os.path.join(workdir, f"{job_path.replace('/', '_')}-{secrets.token_hex(3)}")
        os.makedirs(work)
        result = run_pipeline(script, workdir=work, env=env, credentials=credentials,
                              params=params, answers=answers)
        if results is not None:
            results.append(result)
        return result.result, result.log, result.description
    return on_build


def press_build(server, url, folder, name, parameters=True):
    """The Build button of the job's page: a POST to `build` with the form's default values
    (RELEASE=previous; a job without parameters: no form), as the browser sends it. Returns
    the queue id."""
    import json

    import requests

    form = {"json": json.dumps({"parameter": [{"name": "RELEASE", "value": "previous"}]})} \
        if parameters else {}
    response = server.jenkins_request(requests.Request(
        "POST", f"{url}job/{folder}/job/{name}/build", data=form))
    assert response.status_code == 201, response.text
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def wait_for_build(server, job, queue_id, timeout=300):
    """The build info of the queue item `queue_id` once that build has finished."""
    number = None

    def finished():
        nonlocal number
        if number is None:
            executable = server.get_queue_item(queue_id).get("executable")
            number = executable and executable["number"]
        if number is not None:
            info = server.get_build_info(job, number)
            if not info["building"] and info["result"]:
                return info
        return None

    return poll_until(finished, timeout, f"{job} to finish", 0.5)


def agent(tmp_path, lab):
    """(the environment of the harness's `sh`: this checkout's `shipway` first on the PATH,
    the credentials store holding the lab registry's login)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "shipway"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m pipeline "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/root"),
           "PYTHONPATH": ROOT}
    credentials = {"lab-registry": {"username": lab["SHIPWAY_REGISTRY_USER"],
                                    "password": lab["password"]}}
    return env, credentials


def test_pressing_the_rollback_button_restores_the_previous_digest(
        shipway, releases, service_name, docker_client, lab, tmp_path):
    import jenkins

    folder = f"team-{secrets.token_hex(3)}"
    catalog = write_catalog(str(tmp_path / "catalog.yml"), service_name, releases["repo"], ".",
                            extra=f"""    jenkins:
      folder: {folder}
      repo: https://git.example.com/{service_name}.git
      credentials: lab-registry
""")
    args = ("--catalog", catalog, "--service", service_name)
    shipway("deploy", *args, "--image", releases["v1"], check=0)
    shipway("deploy", *args, "--image", releases["v2"], check=0)

    env, credentials = agent(tmp_path, lab)
    token = secrets.token_hex(16)
    with JenkinsDouble(users={"ops": token}) as double:
        double.on_build = harness_builds(str(tmp_path / "builds"), env, credentials)
        synced = shipway("jobs", "sync", "--catalog", catalog, "--jenkins-url", double.url,
                         env={"JENKINS_USER": "ops", "JENKINS_TOKEN": token}, check=0)
        assert token not in synced.stdout + synced.stderr
        job = f"{folder}/{service_name}-rollback"
        assert job in double.item_names()

        server = jenkins.Jenkins(double.url, username="ops", password=token)
        queue_id = press_build(server, double.url, folder, f"{service_name}-rollback")
        build = wait_for_build(server, job, queue_id)
        console = server.get_build_console_output(job, build["number"])

    assert build["result"] == "SUCCESS", console
    assert build["description"] == f"from {releases['v2']} to {releases['v1']}"
    assert lab["password"] not in console
    digest = releases["v1"].rsplit("@", 1)[1]
    assert running_digests(docker_client, service_name) == [digest, digest]


def test_the_rollback_picker_of_an_environment_goes_to_the_release_picked_with_a_reason(
        shipway, releases, service_name, docker_client, lab, tmp_path):
    """A catalog with an environment (the lab's engine): `jobs sync` provisions its rollback
    picker; pressed, it lists the three releases deployed there, the on-call person takes
    the default (the release before, which ran healthy) and says why; the service runs that
    release's digest and `shipway releases` shows who rolled back from which and why."""
    import jenkins

    folder = f"team-{secrets.token_hex(3)}"
    path = write_catalog(str(tmp_path / "catalog.yml"), service_name, releases["repo"], ".",
                         extra=f"""    jenkins:
      folder: {folder}
      repo: https://git.example.com/{service_name}.git
      credentials: lab-registry
""")
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"environments:\n  staging: {{docker_host: '{host}'}}\n{text}")
    args = ("--catalog", path, "--service", service_name, "--environment", "staging")
    for name, build in (("v1", "1"), ("v2", "2"), ("v3", "3")):
        shipway("deploy", *args, "--image", releases[name], check=0,
                env={"BUILD_NUMBER": build, "SHIPWAY_ACTOR": "alice"})

    env, credentials = agent(tmp_path, lab)
    reason = "checkout 500s since #3, it's $(id)"
    token = secrets.token_hex(16)
    ran = []
    with JenkinsDouble(users={"ops": token}) as double:
        double.on_build = harness_builds(
            str(tmp_path / "builds"), env, credentials, results=ran,
            answers=[{"user": "oncall", "after": 120, "parameters": {"REASON": reason}}])
        shipway("jobs", "sync", "--catalog", path, "--jenkins-url", double.url,
                env={"JENKINS_USER": "ops", "JENKINS_TOKEN": token}, check=0)
        job = f"{folder}/{service_name}-rollback-staging"
        assert job in double.item_names()
        assert f"{folder}/{service_name}-rollback" not in double.item_names()
        server = jenkins.Jenkins(double.url, username="ops", password=token)
        queue_id = press_build(server, double.url, folder, f"{service_name}-rollback-staging",
                               parameters=False)
        build = wait_for_build(server, job, queue_id)
        console = server.get_build_console_output(job, build["number"])

    assert build["result"] == "SUCCESS", console
    [asked] = ran[0].inputs
    choices = asked["parameters"][0]["choices"]
    assert [c.split("  ")[0] for c in choices] == ["#2", "#1"]   # the default first
    assert "  build 2  " in choices[0] and "  by alice  " in choices[0]
    assert asked["message"].startswith(
        f"Roll {service_name} back in staging. Running now: #3  build 3  ")
    assert build["description"] == \
        f"from {releases['v3']} to {releases['v2']} by oncall: {reason}"
    digest = releases["v2"].rsplit("@", 1)[1]
    assert running_digests(docker_client, service_name) == [digest, digest]
    listed = shipway.json("releases", *args)
    assert listed[0]["rolled_back"]["by"] == "oncall"
    assert listed[0]["rolled_back"]["reason"] == reason
    assert [r["seq"] for r in listed if r["running"]] == [2]
    assert lab["password"] not in console
