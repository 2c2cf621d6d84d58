"""A group's rendered Jenkinsfile and rollback job, run end to end on the lab with the real
shipway in the pipeline harness.

Two copies of the example service make a group (a: source build and image, b: image only,
from the same checkout) in two environments on the lab's swarm (staging, and production
behind ops' approval). The group's pipeline runs twice (1.0.0, then 2.0.0): it builds and
pushes both images once, deploys the group to staging, waits for alice's approval in no
executor, and deploys the same digests to production from the stashed checkout and push
records in a workspace of its own; production's release labels name alice. Then the group's
rollback job in production lists the group releases, alice picks the default with a reason,
and every member runs build 1's digest again, the reason on each release it left.
"""
import copy
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from pipeline import catalog, render_group
from tests.integration.conftest import random_name, remove_service_and_releases
from tests.support.groovy import groovy_available, pipeline_run, run_pipelines
from tests.support.poll import poll_until

pytestmark = [pytest.mark.integration, pytest.mark.groovy,
              pytest.mark.skipif(not groovy_available(), reason="groovy/groovyc not installed")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
CREDENTIALS_ID = "lab-registry"
REASON = "2.0.0 breaks checkout: it's `id` $(id)"


def _shipway_wrapper(bin_dir):
    """`shipway` on the PATH of the harness's sh: this checkout's code, this Python."""
    os.makedirs(bin_dir)
    path = os.path.join(bin_dir, "shipway")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f'#!/bin/sh\nexec {sys.executable} -m pipeline "$@"\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def _catalog_text(lab, name):
    """The example service twice (a builds from source, b only images that checkout) in a
    group, in staging and production (approved by ops) on the lab's swarm."""
    import yaml

    with open(os.path.join(EXAMPLES, "catalog.yml"), encoding="utf-8") as handle:
        hello = yaml.safe_load(handle)["services"]["hello"]
    services = {}
    for member in ("a", "b"):
        entry = copy.deepcopy(hello)
        entry.pop("jenkins")
        entry["image"] = f"{lab['SHIPWAY_REGISTRY']}/test/{name}-{member}"
        entry["deploy"].update(replicas=1, labels={"shipway.test": "true"})
        entry["environments"] = {env: {"name": f"{name}-{member}-{env}"}
                                 for env in ("staging", "production")}
        services[f"{name}-{member}"] = entry
    del services[f"{name}-b"]["build"]
    data = {"version": 1, "environments": {
        "staging": None, "production": {"approval": {"submitter": "ops", "timeout": "1h"}}},
        "services": services,
        "groups": {name: {"steps": [f"{name}-a", f"{name}-b"],
                          "jenkins": {"repo": "https://git.example.invalid/monorepo.git",
                                      "credentials": CREDENTIALS_ID}}}}
    return yaml.safe_dump(data, sort_keys=False)


def _workspace(base, name, catalog_text):
    work = os.path.join(base, name)
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns("dist", "dist.tmp", ".shipway"))
    with open(os.path.join(work, "catalog.yml"), "w", encoding="utf-8") as handle:
        handle.write(catalog_text)
    return work


def _read_json(directory, name):
    with open(os.path.join(directory, name), encoding="utf-8") as handle:
        return json.load(handle)


def _running(client, service):
    tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
    return sorted(t["Spec"]["ContainerSpec"]["Image"].rsplit("@", 1)[1]
                  for t in tasks if t["Status"]["State"] == "running")


@pytest.fixture(scope="module")
def delivered(lab, docker_client, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("group-jenkinsfile-lab"))
    name = random_name("gj")
    text = _catalog_text(lab, name)
    _shipway_wrapper(os.path.join(base, ".bin"))
    env = {"PATH": f"{base}/.bin:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "HOME": os.environ.get("HOME", "/root"), "PYTHONPATH": ROOT, "JOB_NAME": name}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    credentials = {CREDENTIALS_ID: {"username": lab["SHIPWAY_REGISTRY_USER"],
                                    "password": lab["password"]}}
    runs, works = [], []
    for number, version in ((1, "1.0.0"), (2, "2.0.0")):
        work = _workspace(base, f"build-{number}", text)
        cat = catalog.load(os.path.join(work, "catalog.yml"))
        script = render_group.render_jenkinsfile(cat, name, catalog_path="catalog.yml")
        runs.append(pipeline_run(
            script, workdir=work, branch="main", credentials=credentials,
            env={**env, "VERSION": version, "BUILD_NUMBER": str(number)},
            answers=[{"user": "mallory", "after": 5},
                     {"user": "alice", "groups": ["ops"], "after": 9}],
            scm_vars={"GIT_COMMIT": f"{number:x}" * 40}))
        works.append(work)
    services = [f"{name}-{m}-{e}" for m in "ab" for e in ("staging", "production")]
    try:
        results = run_pipelines(runs, timeout=1200)
        yield {"name": name, "cat": cat, "base": base, "env": env, "results": results,
               "works": works, "credentials": credentials}
    finally:
        for service in services:
            remove_service_and_releases(docker_client, service)
        for key in (f"{name}.staging", f"{name}.production"):
            for config in docker_client.api.configs(
                    filters={"label": f"shipway.group.name={key}"}):
                docker_client.api.remove_config(config["ID"])


def _pushed(work, service):
    return _read_json(os.path.join(work, ".shipway"), f"{service}.push.json")["digest"]


def test_the_group_pipeline_delivers_the_pushed_digests_to_both_environments(
        delivered, lab, docker_client):
    name = delivered["name"]
    for result, work in zip(delivered["results"], delivered["works"]):
        assert result.returncode == 0, result.log
        assert [result.stages[s] for s in (
            f"Build {name}-a", f"Image {name}-b", "Deploy to staging",
            "Approve production", "Deploy to production")] == ["ran"] * 5, result.log
        assert f"Build {name}-b" not in result.stages     # b has no build command
        (gate,) = result.inputs
        assert gate["approver"] == "alice" and not gate["held_executor"]
        digests = {m: _pushed(work, f"{name}-{m}") for m in "ab"}
        staging = _read_json(work, "shipway-deploy-staging.json")
        # production ran in a workspace of its own, from the stashed checkout and pushes
        production = _read_json(result.workspaces[1], "shipway-deploy-production.json")
        for record in (staging, production):
            assert record["ok"] and record["group_release"] is not None
            for member in "ab":   # what each member ran once the group release was done
                assert record["members"][f"{name}-{member}"].endswith(digests[member])
        assert lab["password"] not in result.log
    for member in "ab":
        for where in ("staging", "production"):
            assert _running(docker_client, f"{name}-{member}-{where}") == [digests[member]]
    labels = docker_client.api.inspect_service(f"{name}-a-production")["Spec"]["Labels"]
    assert labels["shipway.approved-by"] == "alice"
    first = {m: _pushed(delivered["works"][0], f"{name}-{m}") for m in "ab"}
    second = {m: _pushed(delivered["works"][1], f"{name}-{m}") for m in "ab"}
    assert first["a"] != second["a"] and first["b"] != second["b"]


def test_the_group_rollback_job_returns_production_to_the_group_release_before(
        delivered, docker_client):
    name, base = delivered["name"], delivered["base"]
    assert all(r.returncode == 0 for r in delivered["results"]), "the pipelines failed"
    work = os.path.join(base, "rollback")
    os.makedirs(work)
    script = render_group.render_rollback(delivered["cat"], name, "production",
                                          catalog_path="catalog.yml")
    result = run_pipelines([pipeline_run(
        script, workdir=work, env={**delivered["env"], "BUILD_NUMBER": "1"},
        credentials=delivered["credentials"], repository=delivered["works"][0],
        answers=[{"user": "mallory", "after": 5},
                 {"user": "alice", "groups": ["ops"], "after": 20,
                  "parameters": {"REASON": REASON}}])], timeout=600)[0]
    assert result.returncode == 0, result.log
    (asked,) = result.inputs
    assert asked["submitter"] == "ops" and [r["user"] for r in asked["refused"]] == ["mallory"]
    choices = asked["parameters"][0]["choices"]
    assert choices[0].startswith("#1  build 1  1111111") and len(choices) == 1
    record = _read_json(result.workspaces[1], "shipway-rollback.json")   # Rollback's node
    assert record["ok"] and (record["from"], record["to"]) == (2, 1)
    assert result.description == f"from group release #2 to #1 by alice: {REASON}"
    first = {m: _pushed(delivered["works"][0], f"{name}-{m}") for m in "ab"}
    for member in "ab":
        service = f"{name}-{member}-production"
        assert poll_until(lambda s=service: _running(docker_client, s), 60,
                          f"{service} back on build 1", 1,
                          until=lambda found, m=member: found == [first[m]]) == [first[member]]
        # who and why are on the release each member left
        listed = subprocess.run(
            [sys.executable, "-m", "pipeline", "releases", "--catalog",
             os.path.join(delivered["works"][0], "catalog.yml"), "--service",
             f"{name}-{member}", "--environment", "production", "--json"],
            capture_output=True, text=True, cwd=ROOT, check=True,
            env={**os.environ, "PYTHONPATH": ROOT})
        left = [r for r in json.loads(listed.stdout) if r["rolled_back"]]
        assert [(r["rolled_back"]["by"], r["rolled_back"]["reason"]) for r in left] == [
            ("alice", REASON)], member
