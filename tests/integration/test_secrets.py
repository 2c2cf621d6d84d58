"""Secrets stay secret through a whole demo-like run.

The lab's registry password (a random 32-hex string) and a sentinel Jenkins API token are given
to shipway the way Jenkins gives them (environment variables; the token also inside GIT_URL,
as a git checkout with credentials leaves it). Then: build, image, push, deploy, a second
release, rollback, status, releases, render of every template, `jobs sync` and `jobs diff`
against the Jenkins API double. Neither secret may appear, raw or base64-encoded, in:
stdout/stderr of any command, any file written under the workspace (state dir, build output,
rendered files) or HOME, the job config.xml the double holds, the built images (inspect and
history), the service (inspect: spec, labels, env), its tasks and their containers, the
release config objects, or the argv of any process on the machine while the commands run
(/proc/*/cmdline, sampled).

Costs about 30 s: two source builds, image builds and pushes, three rollouts of one replica.
"""
import base64
import functools
import json
import os
import secrets
import shutil
import threading
import time

import pytest

from tests.integration.conftest import ROOT, random_name, write_catalog
from tests.support.jenkins_double import JenkinsDouble
from tests.support.poll import poll_until

pytestmark = pytest.mark.integration


def encoded_forms(secret):
    """The secret as bytes, and the part of its base64 (standard and URL-safe) that is the
    same wherever it sits in a longer encoded text (an auth header, a config.json `auth`)."""
    raw = secret.encode()
    forms = {raw}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            encoded = encode(b"\0" * offset + raw)
            start = 4 if offset else 0                  # the group mixing prefix and secret
            end = (offset + len(raw)) // 3 * 4          # the last group holding only secret
            forms.add(encoded[start:end].rstrip(b"="))
    return forms


class Sentinels:
    """The secrets and every form of them to look for."""

    def __init__(self, **named):
        self.forms = {name: encoded_forms(value) for name, value in named.items()}

    def found_in(self, blob):
        """Names of the secrets in `blob` (bytes or text)."""
        if isinstance(blob, str):
            blob = blob.encode("utf-8", "surrogateescape")
        return sorted(name for name, forms in self.forms.items()
                      if any(form in blob for form in forms))


class ArgvWatch(threading.Thread):
    """Samples the argv of every process until stopped; remembers those holding a secret."""

    def __init__(self, sentinels, limit=600.0):
        super().__init__(daemon=True)
        self.sentinels = sentinels
        self.limit = limit            # seconds: a bound if the test forgets to stop it
        self.stopped = threading.Event()
        self.sweeps = 0
        self.seen = set()             # (pid, argv) pairs read, to report how much was seen
        self.hits = []

    def run(self):
        deadline = time.monotonic() + self.limit
        while not self.stopped.is_set() and time.monotonic() < deadline:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        argv = handle.read()
                except OSError:
                    continue   # gone already, or a kernel thread
                if (pid, argv) in self.seen:
                    continue
                self.seen.add((pid, argv))
                if self.sentinels.found_in(argv):
                    self.hits.append((pid, argv.replace(b"\0", b" ")[:200]))
            self.sweeps += 1
            self.stopped.wait(0.005)

    def stop(self):
        self.stopped.set()
        self.join(timeout=10)


def files_under(*roots):
    """(path, content) of every regular file below `roots`."""
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as handle:
                        yield path, handle.read()


@pytest.fixture
def repo(lab, docker_client):
    """A fresh repository name; its local images are removed afterwards (requested before
    service_name, so this runs after the service is gone)."""
    import docker

    name = f"{lab['SHIPWAY_REGISTRY']}/test/{random_name('secret')}"
    yield name
    deadline = time.monotonic() + 30   # the removed service's container stops within ~2 s

    def removed(image):
        try:
            docker_client.images.remove(image.id, force=True)
        except docker.errors.NotFound:
            pass
        return True

    for image in docker_client.images.list(name=name):
        # an APIError: the image is still used by the task container
        poll_until(functools.partial(removed, image), max(0.0, deadline - time.monotonic()),
                   f"image {image.id} of {name} removed", 0.5,
                   retry_on=(docker.errors.APIError,))


def test_registry_password_and_jenkins_token_never_leak(repo, lab, shipway, service_name,
                                                         docker_client, tmp_path):
    password = lab["password"]
    token = secrets.token_hex(16)
    sentinels = Sentinels(password=password, token=token)
    assert len(password) >= 16, "the lab's password is too short to be a sentinel"

    work = tmp_path
    home = work.parent / f"{work.name}-home"
    home.mkdir()
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), work / "hello",
                    ignore=shutil.ignore_patterns("dist", "dist.tmp"))
    folder = random_name("sec")
    catalog = write_catalog(
        str(work / "shipway.yml"), service_name, repo, "hello", replicas=1,
        extra=f"    jenkins: {{folder: {folder}, repo: 'https://git.example.com/hello.git',"
              f" credentials: lab-registry}}\n")
    args = ("--catalog", catalog, "--service", service_name)
    # What Jenkins' credentials binding and git checkout put into a build's environment.
    jenkins_env = {"HOME": str(home), "SHIPWAY_REGISTRY_PASSWORD": password,
                   "SHIPWAY_REGISTRY_PASSWORD_FILE": "", "JENKINS_USER": "admin",
                   "JENKINS_TOKEN": token, "JOB_NAME": f"{folder}/{service_name}",
                   "GIT_URL": f"https://ci:{token}@git.example.com/hello.git"}

    outputs = []

    def run(*argv, build=None, check=0, **extra):
        env = dict(jenkins_env)
        if build:
            env.update({"BUILD_NUMBER": build, "GIT_COMMIT": f"{build:0>7}" + "e" * 33,
                        "BUILD_URL": f"https://jenkins.example.com/job/x/{build}/",
                        "VERSION": f"{build}.0.0"})
        env.update(extra)
        proc = shipway(*argv, env=env, check=check)
        outputs.append((argv[:2], proc.stdout + proc.stderr))
        return proc

    watch = ArgvWatch(sentinels)
    watch.start()
    with JenkinsDouble(users={"admin": token}) as double:
        try:
            for build in ("1", "2"):
                run("build", *args, build=build)
                run("image", *args, "--build-arg", f"VERSION={build}.0.0", build=build)
                run("push", *args, build=build)
                run("deploy", *args, build=build)
            # A build script that prints its environment prints no secret.
            run("build", *args, "--command", "env")
            run("rollback", *args)
            for listing in ("status", "releases"):
                run(listing, *args)
                run(listing, *args, "--json")
            for what in ("jenkinsfile", "rollback", "job-config"):
                run("render", what, *args, "-o", str(work / "rendered"))
            run("jobs", "sync", "--catalog", catalog, "--jenkins-url", double.url)
            run("jobs", "diff", "--catalog", catalog, "--jenkins-url", double.url,
                "--exit-code")
        finally:
            watch.stop()
        job_configs = {path: double.config_xml(path) for path in double.item_names()}

    leaks = []

    def check(where, blob):
        found = sentinels.found_in(blob)
        if found:
            leaks.append((where, found))

    for argv, text in outputs:
        check(f"output of shipway {' '.join(argv)}", text)
    written = list(files_under(work, home))
    for path, content in written:
        check(path, content)
    assert any(p.endswith(f"{service_name}.deploy.json") for p, _ in written)
    assert sorted(os.listdir(work / "rendered")) == sorted(
        ["Jenkinsfile", "rollback.Jenkinsfile", f"folder-{folder}.config.xml",
         f"{service_name}.config.xml", f"{service_name}-rollback.config.xml"])
    assert sorted(job_configs) == sorted([folder, f"{folder}/{service_name}",
                                          f"{folder}/{service_name}-rollback"])
    for path, xml in job_configs.items():
        check(f"config.xml of {path} in the Jenkins double", xml)

    api = docker_client.api
    for tag in ("1", "2"):   # image tags: the short commit and the build number
        ref = f"{repo}:{tag}"
        check(f"docker inspect {ref}", json.dumps(api.inspect_image(ref)))
        check(f"docker history {ref}", json.dumps(api.history(ref)))
    inspected = api.inspect_image(f"{repo}:2")
    assert inspected["Config"]["Labels"]["org.opencontainers.image.source"] == \
        "https://git.example.com/hello.git"
    service = api.inspect_service(service_name)
    check("docker service inspect", json.dumps(service))
    assert service["Spec"]["Labels"]["shipway.build-number"] == "1"   # rolled back to #1
    tasks = api.tasks(filters={"service": service_name})
    check("docker service ps (tasks)", json.dumps(tasks))
    containers = [t["Status"]["ContainerStatus"]["ContainerID"] for t in tasks
                  if t["Status"].get("ContainerStatus", {}).get("ContainerID")]
    assert containers
    for container in containers:
        check(f"docker inspect container {container[:12]}",
              json.dumps(api.inspect_container(container)))
    configs = api.configs(filters={"label": f"shipway.release.service={service_name}"})
    assert len(configs) == 2
    for config in configs:
        full = api.inspect_config(config["ID"])
        check(f"release config {full['Spec']['Name']}", json.dumps(full))
        check(f"release config {full['Spec']['Name']} (data)",
              base64.b64decode(full["Spec"]["Data"]))

    assert watch.sweeps >= 10, f"argv sampled only {watch.sweeps} times"
    shipway_argvs = [argv for _, argv in watch.seen if b"-m\0pipeline" in argv]
    assert shipway_argvs, "the argv sampler never saw a shipway process"
    for pid, argv in watch.hits:
        leaks.append((f"argv of process {pid}: {argv!r}", sentinels.found_in(argv)))
    print(f"secrets: {len(outputs)} commands, {len(written)} files, {len(job_configs)} job "
          f"configs, {len(configs)} release configs, argv of {len(watch.seen)} processes "
          f"in {watch.sweeps} sweeps: {len(leaks)} leaks")
    assert not leaks, leaks


def test_the_detectors_find_what_they_look_for(tmp_path):
    """The checks above are not vacuous: each form of a secret is found, and a short-lived
    process with a secret in its argv is seen by the sampler."""
    import subprocess

    secret = secrets.token_hex(16)
    sentinels = Sentinels(s=secret)
    auth = base64.b64encode(f"user:{secret}".encode()).decode()
    header = base64.urlsafe_b64encode(json.dumps(
        {"username": "u", "password": secret, "serveraddress": "r:5000"}).encode()).decode()
    for blob in (secret, f'{{"auths": {{"r": {{"auth": "{auth}"}}}}}}', header,
                 base64.b64encode(f"xx{secret}".encode()).decode()):
        assert sentinels.found_in(blob) == ["s"], blob
    assert sentinels.found_in(secret[:-1]) == []
    watch = ArgvWatch(sentinels)
    watch.start()
    try:
        subprocess.run(["sh", "-c", "sleep 0.2", "sh", secret], check=True)
    finally:
        watch.stop()
    assert watch.hits and secret.encode() in watch.hits[0][1]
