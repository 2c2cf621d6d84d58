"""Every stage against the real engine, registry and swarm of the lab."""
import base64
import json
import os
import shutil
import socket
import urllib.request

import pytest

from tests.integration.conftest import (
    ROOT,
    container_digests,
    random_name,
    running_digests,
    write_catalog,
)
from tests.support.faultproxy import FaultProxy

pytestmark = pytest.mark.integration


def digest(ref):
    return ref.rsplit("@", 1)[1]


def registry_manifest_digest(lab, repo, tag, registry=None):
    """HEAD the manifest in the registry itself, as `docker pull` would see it."""
    registry = registry or lab["SHIPWAY_REGISTRY"]
    name = repo.split("/", 1)[1]
    request = urllib.request.Request(f"http://{registry}/v2/{name}/manifests/{tag}", method="HEAD")
    request.add_header("Accept", "application/vnd.docker.distribution.manifest.v2+json")
    token = base64.b64encode(f"{lab['SHIPWAY_REGISTRY_USER']}:{lab['password']}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"]


@pytest.fixture
def hello(tmp_path, lab):
    """A copy of the example service and a catalog for it with a random repository."""
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), tmp_path / "hello",
                    ignore=shutil.ignore_patterns("dist", "dist.tmp"))
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{random_name('img')}"
    catalog = write_catalog(str(tmp_path / "catalog.yml"), "hello", repo, "hello")
    return {"catalog": catalog, "repo": repo}


def test_build_streams_output_and_fails_with_the_command_status(shipway, tmp_path):
    catalog = tmp_path / "c.yml"
    catalog.write_text("services:\n  x:\n    image: r/x\n"
                       "    build: 'echo one; echo two >&2; exit 7'\n")
    proc = shipway("build", "--catalog", str(catalog), "--service", "x")
    assert proc.returncode == 7
    assert "| one" in proc.stderr and "| two" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: build command failed with exit status 7")


# auto: BuildKit where a docker client on PATH has it (the lab's /usr/bin/docker 20.10 does);
# legacy: the Docker SDK's builder. The second case costs one more build and push (~3 s).
@pytest.mark.parametrize("builder", ["auto", "legacy"])
def test_image_has_tags_and_oci_labels_and_push_digest_matches_registry(
        shipway, hello, lab, docker_client, builder):
    from pipeline import builders

    jenkins = {"GIT_COMMIT": "0123456789abcdef0123", "BUILD_NUMBER": "41",
               "GIT_URL": "https://jenkins:s3cret-token@git.example.com/hello.git",
               "VERSION": "4.1.0"}
    args = ("--catalog", hello["catalog"], "--service", "hello")
    shipway("build", *args, env=jenkins, check=0)
    built = shipway("image", *args, "--builder", builder, env=jenkins, check=0)
    used = builders.choose(builder, shipway.env)[0]
    assert f"({used})" in built.stderr.splitlines()[0], built.stderr
    image_id = built.stdout.strip()
    assert image_id.startswith("sha256:")
    image = docker_client.images.get(image_id)
    assert sorted(image.tags) == sorted([f"{hello['repo']}:0123456", f"{hello['repo']}:41"])
    labels = image.labels
    assert labels["org.opencontainers.image.revision"] == jenkins["GIT_COMMIT"]
    assert labels["org.opencontainers.image.source"] == "https://git.example.com/hello.git"
    assert labels["org.opencontainers.image.version"] == "41"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert "s3cret-token" not in json.dumps(labels)

    pushed = shipway("push", *args, env=jenkins, check=0)
    ref = pushed.stdout.strip()
    assert ref.startswith(hello["repo"] + "@sha256:")
    for tag in ("0123456", "41"):
        assert registry_manifest_digest(lab, hello["repo"], tag) == digest(ref)
    assert lab["password"] not in pushed.stdout + pushed.stderr


def test_deploy_creates_updates_is_idempotent_and_records_labels(
        shipway, releases, service_name, docker_client, tmp_path):
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".",
                            networks=["proxy"])
    args = ("--catalog", catalog, "--service", service_name)
    jenkins = {"GIT_COMMIT": "feedbeef" * 5, "BUILD_NUMBER": "7",
               "BUILD_URL": "http://jenkins.example/job/hello/7/"}
    # by tag: deploy resolves the digest in the registry and pins it
    created = shipway.json("deploy", *args, "--image", releases["repo"] + ":v1", env=jenkins)
    assert created["action"] == "created" and created["ok"]
    assert created["image"] == releases["v1"]
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])] * 2
    assert container_digests(docker_client, service_name) == [[digest(releases["v1"])]] * 2

    updated = shipway.json("deploy", *args, "--image", releases["v2"], env=jenkins)
    assert updated["action"] == "updated" and updated["previous_image"] == releases["v1"]
    assert running_digests(docker_client, service_name) == [digest(releases["v2"])] * 2
    labels = docker_client.api.inspect_service(service_name)["Spec"]["Labels"]
    assert labels["shipway.digest"] == digest(releases["v2"])
    assert labels["shipway.commit"] == jenkins["GIT_COMMIT"]
    assert labels["shipway.build-url"] == jenkins["BUILD_URL"]
    assert labels["shipway.deployed-at"].endswith("Z")
    assert labels["shipway.test"] == "true"

    version = docker_client.api.inspect_service(service_name)["Version"]["Index"]
    again = shipway.json("deploy", *args, "--image", releases["v2"], env=jenkins)
    assert again["action"] == "unchanged" and again["ok"]
    assert docker_client.api.inspect_service(service_name)["Version"]["Index"] == version

    status = shipway.json("status", "--service", service_name)
    assert status["digest"] == digest(releases["v2"])
    assert status["previous_image"] == releases["v1"]
    assert status["replicas"] == {"desired": 2, "running": 2, "running_this_image": 2}
    assert status["deploy"]["build-number"] == "7"


def test_dry_run_changes_nothing(shipway, releases, service_name, docker_client, tmp_path):
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".")
    args = ("--catalog", catalog, "--service", service_name)
    plan = shipway("deploy", *args, "--image", releases["v1"], "--dry-run", check=0)
    assert f"create service {service_name}" in plan.stdout
    assert not docker_client.services.list(filters={"name": service_name})
    shipway("deploy", *args, "--image", releases["v1"], check=0)
    version = docker_client.api.inspect_service(service_name)["Version"]["Index"]
    plan = shipway("deploy", *args, "--image", releases["v2"], "--replicas", "3", "--dry-run",
                   check=0)
    assert "Mode.Replicated.Replicas: 2 -> 3" in plan.stdout
    assert "TaskTemplate.ContainerSpec.Image" in plan.stdout
    assert docker_client.api.inspect_service(service_name)["Version"]["Index"] == version


def test_broken_release_fails_and_leaves_the_previous_digest(
        shipway, releases, service_name, docker_client, tmp_path):
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".")
    args = ("--catalog", catalog, "--service", service_name)
    shipway("deploy", *args, "--image", releases["v1"], check=0)
    failed = shipway("deploy", *args, "--image", releases["broken"], check=1)
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("error: update of")
    assert "rolled the update back" in last
    assert "unhealthy" in last, last                # the failing task's error
    assert f"now runs {releases['v1']}" in last     # what the service runs now
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])] * 2


def test_rollback_returns_the_previous_digest_and_refuses_without_one(
        shipway, releases, service_name, docker_client, tmp_path):
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".")
    args = ("--catalog", catalog, "--service", service_name)
    shipway("deploy", *args, "--image", releases["v1"], check=0)

    version = docker_client.api.inspect_service(service_name)["Version"]["Index"]
    refused = shipway("rollback", *args, check=1)
    assert refused.stderr.strip() == (f"error: service {service_name} has no release older than "
                                      "#1 with another image to roll back to; nothing "
                                      "was changed (see `shipway releases` for what is "
                                      "recorded; `shipway deploy --image REF` puts any pushed "
                                      "image back)")
    assert docker_client.api.inspect_service(service_name)["Version"]["Index"] == version

    shipway("deploy", *args, "--image", releases["v2"], check=0)
    back = shipway.json("rollback", *args)
    assert back["previous_image"] == releases["v2"] and back["image"] == releases["v1"]
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])] * 2
    assert container_digests(docker_client, service_name) == [[digest(releases["v1"])]] * 2


def test_bad_catalog_exits_2_naming_the_key(shipway, tmp_path):
    catalog = tmp_path / "c.yml"
    catalog.write_text("services:\n  web:\n    image: r/x\n"
                       "    deploy: {update_config: {order: sideways}}\n")
    for stage in ("build", "image", "push", "deploy", "rollback"):
        proc = shipway(stage, "--catalog", str(catalog), "--service", "web", check=2)
        assert proc.stderr.count("error: ") == 1
        assert "'deploy.update_config.order'" in proc.stderr and str(catalog) in proc.stderr


@pytest.mark.parametrize("mode", ["503", "reset"])
def test_push_survives_a_registry_failing_twice(shipway, lab, docker_client, tmp_path, mode):
    host, port = lab["SHIPWAY_REGISTRY"].split(":")
    with FaultProxy((host, int(port)), failures=2, mode=mode) as proxy:
        repo = f"{proxy.address}/test/{random_name('fault')}"
        image = docker_client.images.build(path=os.path.join(ROOT, "tests", "fixtures", "tiny"),
                                           tag=f"{repo}:1", rm=True)[0]
        try:
            catalog = tmp_path / "c.yml"
            catalog.write_text(f"services:\n  f:\n    image: {repo}\n")
            proc = shipway("push", "--catalog", str(catalog), "--service", "f", "--tag", "1",
                           "--backoff", "100ms", check=0)
            assert proc.stdout.strip().startswith(f"{repo}@sha256:")
            assert "attempt 1 failed" in proc.stderr and "retrying" in proc.stderr
            assert proxy.faulted == 2
            assert registry_manifest_digest(lab, repo, "1") == digest(proc.stdout.strip())
        finally:
            docker_client.images.remove(image.id, force=True)


def test_push_to_a_registry_that_stays_down_fails_clearly(shipway, docker_client, tmp_path):
    # Nothing listens on the port: the registry is down for every attempt. (A registry that
    # keeps answering 503 fails the same way, but the engine itself retries blob uploads for
    # about 50 s per attempt before it gives up, too slow for the suite.)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repo = f"127.0.0.1:{port}/test/{random_name('down')}"
    image = docker_client.images.build(path=os.path.join(ROOT, "tests", "fixtures", "tiny"),
                                       tag=f"{repo}:1", rm=True)[0]
    try:
        catalog = tmp_path / "c.yml"
        catalog.write_text(f"services:\n  f:\n    image: {repo}\n")
        proc = shipway("push", "--catalog", str(catalog), "--service", "f", "--tag", "1",
                       "--attempts", "3", "--backoff", "100ms", check=1)
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: push of {repo}:1 failed after 3 attempts")
        assert "connection refused" in last
        assert proc.stderr.count("retrying in") == 2
    finally:
        docker_client.images.remove(image.id, force=True)


def test_per_build_docker_config_gives_the_registry_login(shipway, lab, docker_client, tmp_path):
    """No SHIPWAY_REGISTRY_* variables: the login comes from $DOCKER_CONFIG/config.json."""
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    login = base64.b64encode(f"{lab['SHIPWAY_REGISTRY_USER']}:{lab['password']}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps(
        {"auths": {lab["SHIPWAY_REGISTRY"]: {"auth": login}}}))
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{random_name('cfg')}"
    image = docker_client.images.build(path=os.path.join(ROOT, "tests", "fixtures", "tiny"),
                                       tag=f"{repo}:1", rm=True)[0]
    try:
        catalog = tmp_path / "c.yml"
        catalog.write_text(f"services:\n  f:\n    image: {repo}\n")
        shipway.env = {k: v for k, v in shipway.env.items() if not k.startswith("SHIPWAY_REG")}
        proc = shipway("push", "--catalog", str(catalog), "--service", "f", "--tag", "1",
                       env={"DOCKER_CONFIG": str(config_dir)}, check=0)
        assert registry_manifest_digest(lab, repo, "1") == digest(proc.stdout.strip())
        # and without it, the registry refuses: the login really came from that file, and a
        # config dir with no login does not fall back to the agent's shared ~/.docker login
        home = tmp_path / "home"
        (home / ".docker").mkdir(parents=True)
        (home / ".docker" / "config.json").write_text((config_dir / "config.json").read_text())
        shipway("push", "--catalog", str(catalog), "--service", "f", "--tag", "1",
                env={"DOCKER_CONFIG": str(tmp_path / "empty"), "HOME": str(home)}, check=1)
    finally:
        docker_client.images.remove(image.id, force=True)
