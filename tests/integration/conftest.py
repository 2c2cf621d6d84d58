"""Integration fixtures: the lab (real engine, registry, swarm), random names, strict cleanup.

The lab is brought up by `lab/up` (CI does it in .ci/run). Without it these tests skip with the
reason, unless SHIPWAY_REQUIRE_LAB=1 (set by CI) turns that into a failure.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys

import pytest

from tests.support.poll import poll_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.environ.get("SHIPWAY_LAB_DIR", "/var/lib/shipway-lab")
TEST_TIMEOUT = "120s"  # convergence bound per deploy in tests; normal runs take 5-15 s


def _lab_env():
    path = os.path.join(LAB_DIR, "env")
    if not os.path.exists(path):
        return None
    env = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, sep, value = line.strip().partition("=")
            if sep:
                env[key] = value
    return env


@pytest.fixture(scope="session")
def lab():
    """The lab's environment (registry address, user, password file, proxy URL)."""
    env = _lab_env()
    problem = None
    if env is None:
        problem = f"the lab is not up ({LAB_DIR}/env missing): run lab/up"
    else:
        import docker

        try:
            docker.from_env().ping()
        except docker.errors.DockerException as exc:
            problem = f"the Docker Engine does not answer: {exc}"
    if problem:
        if os.environ.get("SHIPWAY_REQUIRE_LAB") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    with open(env["SHIPWAY_REGISTRY_PASSWORD_FILE"], encoding="utf-8") as handle:
        env["password"] = handle.read().strip()
    return env


@pytest.fixture(scope="session")
def docker_client(lab):
    import docker

    client = docker.from_env()
    yield client
    client.close()


def wait_for(predicate, timeout=5.0, poll=0.01, what="condition"):
    """The first true value of `predicate()`, polled until `timeout` seconds have passed
    (PollTimeout, an AssertionError, after that): tests/support/poll.py's poll_until with
    this module's defaults, kept for the tests that import it from here."""
    return poll_until(predicate, timeout, what, interval=poll)


def random_name(prefix="t"):
    """A service/repository name no other test run uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


class Shipway:
    """Runs `python -m pipeline` as a subprocess, as Jenkins would, with the lab's credentials."""

    def __init__(self, lab, workdir):
        self.workdir = workdir
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "SHIPWAY_REGISTRY_USER": lab["SHIPWAY_REGISTRY_USER"],
            "SHIPWAY_REGISTRY_PASSWORD_FILE": lab["SHIPWAY_REGISTRY_PASSWORD_FILE"],
            "SHIPWAY_STATE_DIR": os.path.join(workdir, ".shipway"),
            "PYTHONPATH": ROOT,
        }
        if os.environ.get("DOCKER_HOST"):
            self.env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]

    def __call__(self, *args, env=None, check=None, timeout=300):
        proc = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=self.workdir,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout)
        if check is not None:
            assert proc.returncode == check, (
                f"shipway {' '.join(args)} exited {proc.returncode}, wanted {check}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def json(self, *args, **kw):
        proc = self(*args, "--json", check=0, **kw)
        return json.loads(proc.stdout)


@pytest.fixture
def shipway(lab, tmp_path):
    return Shipway(lab, str(tmp_path))


def write_catalog(path, service, repo, workdir, replicas=2, networks=(), extra=""):
    """A catalog for the hello example under `service`, with test-sized timings."""
    nets = ", ".join(networks)
    text = f"""
services:
  {service}:
    image: {repo}
    build: make
    workdir: {workdir}
    networks: [{nets}]
    stop_grace_period: 1s
    deploy:
      replicas: {replicas}
      timeout: {TEST_TIMEOUT}
      labels: {{shipway.test: "true"}}
      update_config: {{parallelism: 1, delay: 0s, order: start-first, failure_action: rollback, monitor: 2s}}
      rollback_config: {{parallelism: 2, delay: 0s, order: start-first, failure_action: pause, monitor: 1s}}
{extra}"""  # noqa: E501 (the catalog is written as users write it, one flow map a line)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def member_entries(names, repo, extra=""):
    """Catalog `services:` entries of a group's members (member -> service name), one
    replica each with test-sized timings; `extra`: lines after `deploy:`'s (the update
    policy, environments), each entry's `{name}` filled in."""
    return "".join(f"""
  {name}:
    image: {repo}
    stop_grace_period: 1s
    deploy:
      replicas: 1
      timeout: {TEST_TIMEOUT}
      labels: {{shipway.test: "true"}}
""" + extra.replace("{name}", name) for name in names.values())


@pytest.fixture(scope="session")
def releases(lab, tmp_path_factory):
    """Pushed releases of the hello example: v1, v2, v3, a broken one (unhealthy) and one
    that crashes at start (exit 3, after printing two lines).

    Built once per session through shipway's own stages; returns {name: pinned digest ref}.
    """
    work = str(tmp_path_factory.mktemp("releases"))
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), os.path.join(work, "hello"),
                    ignore=shutil.ignore_patterns("dist", "dist.tmp"))
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{random_name('hello')}"
    catalog = write_catalog(os.path.join(work, "catalog.yml"), "hello", repo, "hello")
    run = Shipway(lab, work)
    refs = {}
    for name, version, broken, crash in (("v1", "1.0.0", "", ""), ("v2", "2.0.0", "", ""),
                                         ("v3", "3.0.0", "", ""), ("broken", "4.0.0", "1", ""),
                                         ("crash", "5.0.0", "", "1")):
        env = {"VERSION": version}
        run("build", "--catalog", catalog, "--service", "hello", env=env, check=0)
        run("image", "--catalog", catalog, "--service", "hello", "--tag", name,
            "--build-arg", f"VERSION={version}", "--build-arg", f"BROKEN={broken}",
            "--build-arg", f"CRASH={crash}",
            env=env, check=0)
        pushed = run("push", "--catalog", catalog, "--service", "hello", "--tag", name, check=0)
        refs[name] = f"{repo}:{name}@{pushed.stdout.strip().split('@')[1]}"
    refs["repo"] = repo
    return refs


@pytest.fixture
def service_name(docker_client):
    """A random service name; the service and its release records are removed after the test."""
    name = random_name("svc")
    yield name
    remove_service_and_releases(docker_client, name)


def remove_service_and_releases(client, name):
    """Remove service `name` (if there) and the release records shipway kept for it."""
    import docker

    try:
        client.services.get(name).remove()
    except docker.errors.NotFound:
        pass
    for label in ("shipway.release.service", "shipway.lock.service"):
        for config in client.api.configs(filters={"label": f"{label}={name}"}):
            try:
                client.api.remove_config(config["ID"])
            except docker.errors.NotFound:
                pass  # a lock its holder released meanwhile


def running_digests(client, service):
    """Digests of the images the service's running tasks run (read from the engine)."""
    tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
    return sorted(t["Spec"]["ContainerSpec"]["Image"].rsplit("@", 1)[1]
                  for t in tasks if t["Status"]["State"] == "running")


def container_digests(client, service):
    """For each running task, the digest of the image its container was created from.

    Read from the container itself (image id -> RepoDigests), not from the task spec, so it
    shows what really runs.
    """
    found = []
    tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
    for task in tasks:
        if task["Status"]["State"] != "running":
            continue
        container = client.api.inspect_container(task["Status"]["ContainerStatus"]["ContainerID"])
        image = client.api.inspect_image(container["Image"])
        found.append(sorted(d.rsplit("@", 1)[1] for d in image.get("RepoDigests", [])))
    return found
