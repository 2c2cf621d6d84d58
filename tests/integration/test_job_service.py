"""Job services through `shipway deploy` on the real engine (issue 19): a `replicated-job`
runs to completion with the release's digest, its output said on the console as it runs,
and is recorded; one that fails (or outlives the timeout) ends the deploy with exit 1 and
one line naming its exit code and last lines; a deploy of a spec that already ran to
completion runs it again only with --rerun-jobs, one whose last run failed always; a job
with a secret and a network; one made with the docker CLI, adopted; and a job is not rolled
back.

The job is a FROM scratch busybox image (tests/support/busybox.py's build_job) that prints
LINES lines, the md5 of SECRET_FILE, sleeps SLEEP seconds and exits EXIT_CODE, all from its
environment, pushed to the lab's registry as two variants (two digests).
"""
import hashlib
import json
import re
import secrets

import pytest

from tests.integration.conftest import random_name, remove_service_and_releases, wait_for
from tests.integration.test_adoption import Made, cli, write  # noqa: F401 (cli: a fixture)
from tests.integration.test_stack_parity import Hidden, _delete_from_registry
from tests.support.busybox import build_job

pytestmark = pytest.mark.integration

OUTPUT = re.compile(r"^\[shipway\] task ([0-9a-z]{12}) \| (.*)$", re.M)


@pytest.fixture(scope="module")
def job_images(lab, docker_client):
    """{"v1": pinned ref, "v2": pinned ref, "repo": repo} of the job image in the registry."""
    client = docker_client
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{random_name('job')}"
    auth = Hidden(username=lab["SHIPWAY_REGISTRY_USER"], password=lab["password"])
    refs = {"repo": repo}
    for tag in ("v1", "v2"):
        build_job(client, f"{repo}:{tag}", variant=tag)
        for line in client.api.push(repo, tag=tag, auth_config=auth, stream=True, decode=True):
            assert "error" not in line, line
        digest = client.api.inspect_distribution(f"{repo}:{tag}",
                                                 auth_config=auth)["Descriptor"]["digest"]
        refs[tag] = f"{repo}:{tag}@{digest}"
    yield refs
    for tag in ("v1", "v2"):
        _delete_from_registry(lab, repo, refs[tag].rsplit("@", 1)[1])
        client.api.remove_image(f"{repo}:{tag}", force=True)


class Jobs(Made):
    """Made, and the containers of its job services: removing a job service leaves a task
    that still runs (a job that outlived its deploy) on this engine."""

    def cleanup(self):
        api = self.client.api
        for name in self.services:
            remove_service_and_releases(self.client, name)
            for container in api.containers(all=True, filters={
                    "label": f"com.docker.swarm.service.name={name}"}):
                api.remove_container(container["Id"], force=True)
        super().cleanup()


@pytest.fixture
def made(docker_client):
    things = Jobs(docker_client, secrets_deployed=True)
    yield things
    things.cleanup()


def job_catalog(tmp_path, name, repo, env, deploy="", top="", extra=""):
    return write(tmp_path / "catalog.yml", f"""{top}
services:
  {name}:
    image: {repo}
    environment: {env}
{extra}    deploy:
      mode: replicated-job
      timeout: 60s
{deploy}""")


def output(proc):
    """[(task id, line)] the deploy said of the job's output, in order."""
    return OUTPUT.findall(proc.stderr)


def iteration(api, name):
    return ((api.inspect_service(name).get("JobStatus") or {}).get("JobIteration")
            or {}).get("Index", 0)


def test_a_job_runs_to_completion_streamed_recorded_and_is_rerun_only_when_asked(
        shipway, job_images, docker_client, made, tmp_path):
    api = docker_client.api
    name = made.service("job")
    catalog = job_catalog(tmp_path, name, job_images["repo"], "{LINES: '4', EXIT_CODE: '0'}")
    args = ("--catalog", catalog, "--service", name)
    first = shipway("deploy", *args, "--image", job_images["v1"], check=0)
    said = output(first)
    assert [line for _, line in said] == ["line 1", "line 2", "line 3", "line 4"]
    assert len({task for task, _ in said}) == 1
    assert first.stdout.strip() == (f"{name}: created {job_images['v1']}: job completed: 1/1 "
                                    "tasks exited 0 (iteration 0)")
    spec = api.inspect_service(name)["Spec"]
    assert spec["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    assert spec["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == job_images["v1"]
    [release] = shipway.json("releases", "--service", name)
    assert release["image"] == job_images["v1"]
    status = shipway.json("status", "--service", name)
    assert status["job"]["state"] == "completed" and status["job"]["exit_codes"] == [0]
    assert status["rollback_to"] is None

    version = api.inspect_service(name)["Version"]["Index"]
    again = shipway("deploy", *args, "--image", job_images["v1"], check=0)
    assert again.stdout.startswith(f"unchanged: job {name} completed on this digest at "
                                   f"{status['job']['finished']} (iteration 0;")
    assert output(again) == [] and api.inspect_service(name)["Version"]["Index"] == version

    rerun = shipway("deploy", *args, "--image", job_images["v1"], "--rerun-jobs", check=0)
    assert [line for _, line in output(rerun)] == ["line 1", "line 2", "line 3", "line 4"]
    assert {task for task, _ in output(rerun)}.isdisjoint(task for task, _ in said)
    assert "(iteration 1)" in rerun.stdout and iteration(api, name) == 1
    assert len(shipway.json("releases", "--service", name)) == 2

    # a job is not rolled back: one line, exit 2, nothing changed (no lock taken either)
    version = api.inspect_service(name)["Version"]["Index"]
    back = shipway("rollback", *args, check=2)
    assert back.stderr.strip().splitlines() == [
        f"error: service {name} is a replicated-job service: a job is not rolled back: deploy "
        f"the release you want to run again (`shipway releases --service {name}` lists them; "
        "deploy one with --image REF)"]
    assert api.inspect_service(name)["Version"]["Index"] == version
    assert not api.configs(filters={"label": f"shipway.lock.service={name}"})

    # another digest is a change: it runs, without being asked
    other = shipway("deploy", *args, "--image", job_images["v2"], check=0)
    assert len(output(other)) == 4 and iteration(api, name) == 2


def test_a_failed_job_ends_the_deploy_with_its_exit_code_and_last_lines(
        shipway, job_images, docker_client, made, tmp_path):
    api = docker_client.api
    name = made.service("job-fail")
    catalog = job_catalog(tmp_path, name, job_images["repo"], "{LINES: '5', EXIT_CODE: '3'}")
    args = ("--catalog", catalog, "--service", name, "--image", job_images["v1"])
    proc = shipway("deploy", *args, check=1)
    assert [line for _, line in output(proc)] == [f"line {i}" for i in range(1, 6)]
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.stderr.strip().splitlines()[-1] == error
    task = output(proc)[0][0]
    assert error.startswith(f"error: job {name} on {job_images['v1']} failed: task {task} "
                            "exited 3; 0/1 tasks completed; last lines: line 3 | line 4 | "
                            "line 5 (")
    assert "forensics: task" in proc.stderr          # as for a failed task of a service
    assert shipway.json("releases", "--service", name) == []
    assert shipway.json("status", "--service", name)["job"]["exit_codes"] == [3]

    # the same spec again: its last run failed, so a plain deploy runs it again
    record = shipway("deploy", *args, "--json", check=1)
    assert "runs again on the same spec (its last run, iteration 0, failed: task" in \
        record.stderr
    doc = json.loads(record.stdout)
    assert (doc["ok"], doc["job"]["iteration"], doc["job"]["exit_codes"]) == (False, 1, [3])
    assert doc["job"]["last_lines"] == ["line 3", "line 4", "line 5"]
    assert doc["forensics"][0]["exit_code"] == 3
    assert iteration(api, name) == 1


def test_a_job_that_outlives_the_timeout_fails_the_deploy(shipway, job_images, docker_client,
                                                          made, tmp_path):
    name = made.service("job-slow")
    catalog = job_catalog(tmp_path, name, job_images["repo"], "{LINES: '2', SLEEP: '60'}")
    proc = shipway("deploy", "--catalog", catalog, "--service", name, "--image",
                   job_images["v1"], "--timeout", "5s", check=1)
    assert [line for _, line in output(proc)] == ["line 1", "line 2"]
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: job {name} on {job_images['v1']} failed: timed out after "
                            "5s: 0/1 tasks of the job completed (iteration 0; swarm goes on "
                            "with the run); last lines: line 1 | line 2 ("), error
    # a deploy while that run goes on waits for it, and starts no second one
    wait = shipway("deploy", "--catalog", catalog, "--service", name, "--image",
                   job_images["v1"], "--timeout", "2s", "--rerun-jobs", check=1)
    assert f"job {name} is running (iteration 0" in wait.stderr
    assert iteration(docker_client.api, name) == 0


def test_a_job_with_a_secret_and_a_network(shipway, job_images, docker_client, made, tmp_path):
    api = docker_client.api
    name = made.service("job-net")
    network = made.network()
    token = secrets.token_hex(16)
    catalog = job_catalog(
        tmp_path, name, job_images["repo"],
        "{LINES: '1', SECRET_FILE: /run/secrets/token}",
        top="secrets:\n  token: {environment: JOB_TOKEN}\n",
        extra=f"    networks: [{network}]\n    secrets: [token]\n")
    proc = shipway("deploy", "--catalog", catalog, "--service", name, "--image",
                   job_images["v1"], check=0, env={"JOB_TOKEN": token})
    md5 = hashlib.md5(token.encode()).hexdigest()
    assert [line for _, line in output(proc)] == ["line 1", f"secret md5 {md5}"]
    assert token not in proc.stdout + proc.stderr
    [task] = [t for t in api.tasks(filters={"service": name})]
    net_id = api.inspect_network(network)["Id"]
    assert net_id in [a["Network"]["ID"] for a in task.get("NetworksAttachments", [])]
    [release] = shipway.json("releases", "--service", name)
    assert token not in str(release)


def test_a_job_made_with_the_docker_cli_is_adopted(shipway, job_images, docker_client, made,
                                                   cli):  # noqa: F811 (the fixture)
    """A deploy of another image runs it, as `docker service update --image` would, and
    keeps what the CLI set (its restart policy, its completions)."""
    api = docker_client.api
    name = made.service("job-cli")
    cli("service", "create", "--detach", "--quiet", "--name", name, "--mode", "replicated-job",
        "--replicas", "2", "--restart-condition", "on-failure", "--restart-max-attempts", "1",
        "--env", "LINES=1", "--with-registry-auth", job_images["v1"])
    wait_for(lambda: len([t for t in api.tasks(filters={"service": name})
                          if t["Status"]["State"] == "complete"]) == 2,
             timeout=60, poll=0.2, what=f"the first run of job {name} to complete")
    proc = shipway("deploy", "--service", name, "--image", job_images["v2"], check=0)
    assert "job completed: 2/2 tasks exited 0 (iteration 1)" in proc.stdout
    assert len(output(proc)) == 2
    spec = api.inspect_service(name)["Spec"]
    assert spec["Mode"]["ReplicatedJob"]["TotalCompletions"] == 2
    assert spec["TaskTemplate"]["RestartPolicy"]["MaxAttempts"] == 1
