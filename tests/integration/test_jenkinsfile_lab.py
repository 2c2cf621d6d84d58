"""The rendered Jenkinsfile and rollback script, run end to end against the lab.

The example service's catalog entry (examples/catalog.yml) is copied under a random service
name and image repository; its rendered Jenkinsfile runs in the pipeline harness on branch
main, twice (releases 1.0.0 and 2.0.0), with the lab registry's login bound only through
withCredentials, and the real `shipway` doing the work. The Docker SDK then checks that the
service's running tasks are on the digest the pipeline pushed; the rendered rollback script
must bring them back to the first release's digest. The service is removed at the end.

With environments: the same entry in two environments on the lab's swarm (staging, and
production behind an approval), its rendered Jenkinsfile builds once, deploys to staging,
waits for ops' approval in no executor and promotes the digest staging runs; production's
release record says who approved it. A build whose staging a newer build changed while it
waited at the gate has its promote refused (--expect-record): production gets nothing.
"""
import copy
import json
import os
import secrets
import shlex
import shutil
import stat
import sys

import pytest

from pipeline import catalog, render
from tests.integration.conftest import remove_service_and_releases
from tests.support.groovy import groovy_available, pipeline_run, run_pipelines
from tests.support.poll import poll_until

pytestmark = [pytest.mark.integration, pytest.mark.groovy,
              pytest.mark.skipif(not groovy_available(), reason="groovy/groovyc not installed")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
CREDENTIALS_ID = "lab-registry"   # examples/catalog.yml's jenkins.credentials


def _shipway_wrapper(bin_dir):
    """`shipway` on the PATH of the harness's sh: this checkout's code, this Python."""
    os.makedirs(bin_dir)
    path = os.path.join(bin_dir, "shipway")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f'#!/bin/sh\nexec {sys.executable} -m pipeline "$@"\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def _workspace(base, name, catalog_text):
    """A fresh copy of examples/ as a Jenkins workspace, with the test's catalog."""
    work = os.path.join(base, name)
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns("dist", "dist.tmp", ".shipway"))
    with open(os.path.join(work, "catalog.yml"), "w", encoding="utf-8") as handle:
        handle.write(catalog_text)
    return work


def _running_digests(client, service):
    tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
    return sorted(t["Spec"]["ContainerSpec"]["Image"].rsplit("@", 1)[1]
                  for t in tasks if t["Status"]["State"] == "running")


def _wait_for_digests(client, service, digest, replicas, timeout=60):
    """The running tasks' digests once all `replicas` run `digest` (PollTimeout naming what
    runs, if they do not within `timeout`)."""
    return poll_until(lambda: _running_digests(client, service), timeout,
                      f"{replicas} task(s) of {service} on {digest}", 1,
                      until=lambda found: found == [digest] * replicas)


def _read_json(workdir, name):
    with open(os.path.join(workdir, name), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def deployed(lab, docker_client, tmp_path_factory):
    """Two pipeline runs (1.0.0, then 2.0.0) of a random copy of the example service."""
    import yaml

    base = str(tmp_path_factory.mktemp("jenkinsfile-lab"))
    name = f"jf-{secrets.token_hex(4)}"
    with open(os.path.join(EXAMPLES, "catalog.yml"), encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    entry = copy.deepcopy(data["services"]["hello"])
    entry["image"] = f"{lab['SHIPWAY_REGISTRY']}/test/{name}"
    entry["deploy"].setdefault("labels", {})["shipway.test"] = "true"
    data["services"] = {name: entry}
    catalog_text = yaml.safe_dump(data, sort_keys=False)

    bin_dir = os.path.join(base, ".bin")
    _shipway_wrapper(bin_dir)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "HOME": os.environ.get("HOME", "/root"), "PYTHONPATH": ROOT}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    credentials = {CREDENTIALS_ID: {"username": lab["SHIPWAY_REGISTRY_USER"],
                                    "password": lab["password"]}}

    runs, workdirs = [], []
    for number, version in ((1, "1.0.0"), (2, "2.0.0")):
        work = _workspace(base, f"build-{number}", catalog_text)
        cat = catalog.load(os.path.join(work, "catalog.yml"))
        script = render.render_jenkinsfile(cat, name, catalog_path="catalog.yml")
        runs.append(pipeline_run(
            script, workdir=work, branch="main", credentials=credentials,
            env={**env, "VERSION": version, "BUILD_NUMBER": str(number), "JOB_NAME": name},
            scm_vars={"GIT_COMMIT": f"{number:x}" * 40}))
        workdirs.append(work)
    try:
        results = run_pipelines(runs, timeout=900)
        yield {"name": name, "cat": cat, "base": base, "env": env, "credentials": credentials,
               "results": results, "workdirs": workdirs, "replicas": entry["deploy"]["replicas"]}
    finally:
        remove_service_and_releases(docker_client, name)


def test_rendered_pipeline_deploys_the_pushed_digest(deployed, lab, docker_client):
    name = deployed["name"]
    digests = []
    for result, work in zip(deployed["results"], deployed["workdirs"]):
        assert result.returncode == 0, result.log
        assert result.stages == {"Checkout": "ran", "Build": "ran", "Image": "ran",
                                 "Push": "ran", "Deploy": "ran"}, result.log
        assert lab["password"] not in result.log
        pushed = _read_json(os.path.join(work, ".shipway"), f"{name}.push.json")["digest"]
        record = _read_json(work, "shipway-deploy.json")
        assert record["ok"] and record["digest"] == pushed
        status = _read_json(work, "shipway-status.json")
        assert status["digest"] == pushed
        assert sorted(result.archived) == ["shipway-deploy.json", "shipway-status.json"]
        digests.append(pushed)
    assert digests[0] != digests[1], "the two releases must differ"
    assert _wait_for_digests(docker_client, name, digests[1], deployed["replicas"]) == \
        [digests[1]] * deployed["replicas"]


def test_rendered_rollback_returns_to_the_previous_digest(deployed, docker_client):
    name = deployed["name"]
    assert all(r.returncode == 0 for r in deployed["results"]), "the deploys failed"
    first = _read_json(deployed["workdirs"][0], "shipway-deploy.json")
    second = _read_json(deployed["workdirs"][1], "shipway-deploy.json")
    work = os.path.join(deployed["base"], "rollback")
    os.makedirs(work)
    script = render.render_rollback(deployed["cat"], name)
    result = run_pipelines([pipeline_run(script, workdir=work, env=deployed["env"],
                                         credentials=deployed["credentials"])], timeout=600)[0]
    assert result.returncode == 0, result.log
    record = _read_json(work, "shipway-rollback.json")
    assert record["previous_image"] == second["image"]
    assert record["image"] == first["image"]
    assert result.description == f"from {second['image']} to {first['image']}"
    assert _wait_for_digests(docker_client, name, first["digest"], deployed["replicas"]) == \
        [first["digest"]] * deployed["replicas"]


# ---------------------------------------------------------------------------- environments

def _environments_catalog(lab, name):
    """(catalog text, replicas): the example service in two environments on the lab's
    swarm, staging, and production behind an approval by ops."""
    import yaml

    with open(os.path.join(EXAMPLES, "catalog.yml"), encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    entry = copy.deepcopy(data["services"]["hello"])
    entry["image"] = f"{lab['SHIPWAY_REGISTRY']}/test/{name}"
    entry["deploy"].setdefault("labels", {})["shipway.test"] = "true"
    entry["environments"] = {"staging": {"name": f"{name}-staging", "deploy": {"replicas": 1}},
                             "production": {"name": f"{name}-production"}}
    data["services"] = {name: entry}
    data["environments"] = {"staging": None,
                            "production": {"approval": {"submitter": "ops", "timeout": "1h"}}}
    return yaml.safe_dump(data, sort_keys=False), entry["deploy"]["replicas"]


def _build_env(base, name, number, version):
    """The environment of build `number` of job `name`: this checkout's shipway first on
    PATH, the lab's engine."""
    bin_dir = os.path.join(base, ".bin")
    if not os.path.exists(bin_dir):
        _shipway_wrapper(bin_dir)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "HOME": os.environ.get("HOME", "/root"), "PYTHONPATH": ROOT, "VERSION": version,
           "BUILD_NUMBER": str(number), "JOB_NAME": name}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env


def _lab_credentials(lab):
    return {CREDENTIALS_ID: {"username": lab["SHIPWAY_REGISTRY_USER"],
                             "password": lab["password"]}}


@pytest.fixture(scope="module")
def promoted(lab, docker_client, tmp_path_factory):
    """The example service in two environments on the lab's swarm (staging, and production
    behind an approval by ops), its rendered Jenkinsfile run once: mallory's approval is
    refused, alice's (of group ops) goes on."""
    base = str(tmp_path_factory.mktemp("jenkinsfile-environments"))
    name = f"jfe-{secrets.token_hex(4)}"
    catalog_text, replicas = _environments_catalog(lab, name)
    work = _workspace(base, "build-1", catalog_text)
    cat = catalog.load(os.path.join(work, "catalog.yml"))
    script = render.render_jenkinsfile(cat, name, catalog_path="catalog.yml")
    answers = [{"user": "mallory", "after": 5}, {"user": "alice", "groups": ["ops"], "after": 9}]
    try:
        result = run_pipelines([pipeline_run(
            script, workdir=work, branch="main", credentials=_lab_credentials(lab),
            env=_build_env(base, name, 1, "1.0.0"), answers=answers,
            scm_vars={"GIT_COMMIT": "e" * 40})], timeout=900)[0]
        yield {"name": name, "result": result, "work": work, "replicas": replicas}
    finally:
        for service in (f"{name}-staging", f"{name}-production"):
            remove_service_and_releases(docker_client, service)


def test_rendered_environments_pipeline_promotes_the_digest_staging_runs(promoted, lab,
                                                                          docker_client):
    name, result, work = promoted["name"], promoted["result"], promoted["work"]
    assert result.returncode == 0, result.log
    assert [result.stages[s] for s in ("Deploy to staging", "Approve production",
                                       "Promote to production")] == ["ran"] * 3
    (gate,) = result.inputs
    assert gate["approver"] == "alice" and [r["user"] for r in gate["refused"]] == ["mallory"]
    assert not gate["held_executor"]
    pushed = _read_json(os.path.join(work, ".shipway"), f"{name}.push.json")["digest"]
    staging = _read_json(work, "shipway-deploy-staging.json")
    assert staging["ok"] and staging["digest"] == pushed
    # The promote ran in a workspace of its own, from the stashed checkout.
    promote_dir = result.workspaces[1]
    promoted_record = _read_json(promote_dir, "shipway-promote-production.json")
    assert promoted_record["ok"] and promoted_record["digest"] == pushed
    assert _wait_for_digests(docker_client, f"{name}-staging", pushed, 1) == [pushed]
    assert _wait_for_digests(docker_client, f"{name}-production", pushed,
                             promoted["replicas"]) == [pushed] * promoted["replicas"]
    # The approver reached the release record, through SHIPWAY_APPROVED_BY.
    labels = docker_client.api.inspect_service(f"{name}-production")["Spec"]["Labels"]
    assert labels["shipway.approved-by"] == "alice"
    assert labels["shipway.promoted-from.environment"] == "staging"
    assert lab["password"] not in result.log


@pytest.fixture(scope="module")
def overtaken(lab, docker_client, tmp_path_factory):
    """Build #1 of the two-environment Jenkinsfile deploys 1.0.0 to staging and waits at
    production's gate. Meanwhile build #2 (2.0.0) passes milestone 1, builds, pushes and
    deploys to staging, as its own stages do, and passes milestone 2 (#1 passed 2 before it:
    not aborted). Then alice approves build #1."""
    base = str(tmp_path_factory.mktemp("jenkinsfile-overtaken"))
    name = f"jfo-{secrets.token_hex(4)}"
    catalog_text, _ = _environments_catalog(lab, name)
    work, newer = (_workspace(base, f"build-{n}", catalog_text) for n in (1, 2))
    cat = catalog.load(os.path.join(work, "catalog.yml"))
    script = render.render_jenkinsfile(cat, name, catalog_path="catalog.yml")
    base_args = ["--catalog", "catalog.yml", "--service", name]
    steps = [["shipway", stage, *base_args] for stage in ("build", "image", "push")] + \
        [["shipway", "deploy", *base_args, "--environment", "staging", "--json"]]
    runs = " && ".join(shlex.join(step) for step in steps) + " > shipway-deploy-staging.json"
    # Build #2's registry login comes from the lab's password file: no secret in the event.
    newer_env = {**_build_env(base, name, 2, "2.0.0"), "GIT_COMMIT": "2" * 40,
                 "SHIPWAY_REGISTRY_USER": lab["SHIPWAY_REGISTRY_USER"],
                 "SHIPWAY_REGISTRY_PASSWORD_FILE": lab["SHIPWAY_REGISTRY_PASSWORD_FILE"]}
    answers = [{"build": 2, "passes": 1, "after": 30},
               {"build": 2, "runs": runs, "workdir": newer, "env": newer_env, "after": 40},
               {"build": 2, "passes": 2, "after": 300},
               {"user": "alice", "groups": ["ops"], "after": 600}]
    try:
        result = run_pipelines([pipeline_run(
            script, workdir=work, branch="main", credentials=_lab_credentials(lab),
            env=_build_env(base, name, 1, "1.0.0"), answers=answers, milestones={2: None},
            scm_vars={"GIT_COMMIT": "1" * 40})], timeout=900)[0]
        yield {"name": name, "result": result, "work": work, "newer": newer}
    finally:
        for service in (f"{name}-staging", f"{name}-production"):
            remove_service_and_releases(docker_client, service)


def test_a_build_whose_staging_a_newer_build_changed_while_it_waited_promotes_nothing(
        overtaken, lab, docker_client):
    """The approver approved build #1 (1.0.0 in staging); staging runs #2's 2.0.0 by then:
    its promote is refused, and production gets nothing, not 2.0.0."""
    name, result = overtaken["name"], overtaken["result"]
    (gate,) = result.inputs
    meanwhile = [e for e in gate["events"] if "runs" in e]
    assert [e["returncode"] for e in meanwhile] == [0], result.log
    assert gate["approver"] == "alice"
    assert result.result == "FAILURE", result.log
    assert [result.stages[s] for s in ("Deploy to staging", "Approve production",
                                       "Promote to production")] == ["ran", "ran", "failed"]
    assert result.milestones == [1, 2, 3] and result.cancelled == []
    mine = _read_json(overtaken["work"], "shipway-deploy-staging.json")
    newer = _read_json(overtaken["newer"], "shipway-deploy-staging.json")
    assert mine["ok"] and newer["ok"] and mine["digest"] != newer["digest"]
    assert (mine["release"]["seq"], newer["release"]["seq"]) == (1, 2)

    def short(digest):
        return digest[:len("sha256:") + 12] + "..."
    refusal = (f"error: staging runs release #2 ({short(newer['digest'])}), not release #1 "
               f"({short(mine['digest'])}) that this build deployed there: a newer build or a "
               "rollback changed it; nothing was changed (")
    assert refusal in result.log
    record = _read_json(result.workspaces[1], "shipway-promote-production.json")
    assert (record["ok"], record["exit_code"], record["kind"]) == (False, 1, "PromotionRefused")
    # Nothing changed: no production service, no release of it; staging runs #2's digest.
    assert docker_client.api.services(filters={"name": f"{name}-production"}) == []
    assert docker_client.api.configs(
        filters={"label": f"shipway.release.service={name}-production"}) == []
    assert _wait_for_digests(docker_client, f"{name}-staging", newer["digest"], 1) == \
        [newer["digest"]]
    assert lab["password"] not in result.log
