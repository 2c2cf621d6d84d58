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


def harness_builds(workdir, env, credentials):
    """An on_build hook for the double: run the job's inline pipeline script in the harness."""
    def on_build(job_path, config_xml, params):
        script = ET.fromstring(config_xml).find("./definition/script").text
        work = os.path.join(workdir, f"{job_path.replace('/', '_')}-{secrets.token_hex(3)}")
        os.makedirs(work)
        result = run_pipeline(script, workdir=work, env=env, credentials=credentials,
                              params=params)
        return result.result, result.log, result.description
    return on_build


def press_build(server, url, folder, name):
    """The Build button of the job's page: a POST to `build` with the form's default values
    (RELEASE=previous), as the browser sends it. Returns the queue id."""
    import json

    import requests

    form = {"json": json.dumps({"parameter": [{"name": "RELEASE", "value": "previous"}]})}
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

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "shipway"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m pipeline "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/root"),
           "PYTHONPATH": ROOT}
    credentials = {"lab-registry": {"username": lab["SHIPWAY_REGISTRY_USER"],
                                    "password": lab["password"]}}
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
