"""`shipway promote` on the real engines: staging is the one-node lab (registry 127.0.0.1:5000),
production the multi-node lab (its own registry, 10.210.0.1:5001, its own password); the
image is copied between the registries by digest and production runs the digest staging
runs. Also two environments on one swarm (no copy), and each refusal, with nothing changed.

The images are busybox sleepers with a HEALTHCHECK (v1, v2 and one whose health check
fails), built on the one-node lab's engine and pushed to its registry once; one staging
deploy of v1 is shared by the tests that promote it. Random names; the services and their
release records are removed from both swarms afterwards (the registries' tags stay: the
registries are the labs').
"""
import io
import json
import os
import tarfile

import docker
import pytest
import requests

from tests.integration.conftest import (
    TEST_TIMEOUT,
    Shipway,
    random_name,
    remove_service_and_releases,
    running_digests,
)
from tests.support.multinode import MultiLab, unsupported_reason

pytestmark = pytest.mark.integration

DOCKERFILE = ("FROM scratch\nCOPY busybox /bin/busybox\nLABEL promote.test={version}\n"
              'HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["/bin/busybox", '
              '"{probe}"]\nCMD ["/bin/busybox", "sleep", "600"]\n')
CATALOG = """
environments:
  staging: {{docker_host: "{local}", registry: "{local_registry}"}}
  production: {{docker_host: "{production_host}", registry: "{production_registry}"}}
services:
  {entry}:
    image: {repo}
    stop_grace_period: 1s
    deploy:
      replicas: 1
      timeout: {timeout}
      update_config: {{parallelism: 1, delay: 0s, order: start-first, failure_action: rollback, monitor: 1s}}
    environments:
      staging: {{name: {entry}-staging}}
      production: {{name: {entry}-prod, deploy: {{replicas: 2}}}}
"""  # noqa: E501 (a catalog as users write it)
LOCAL_HOST = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
MANIFESTS = ", ".join(("application/vnd.docker.distribution.manifest.v2+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.oci.image.manifest.v1+json",
                       "application/vnd.oci.image.index.v1+json"))


@pytest.fixture(scope="module")
def images(lab, docker_client):
    """{tag: pinned reference} of v1, v2 and broken in the one-node lab's registry."""
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{random_name('promote')}"
    auth = {"username": lab["SHIPWAY_REGISTRY_USER"], "password": lab["password"]}
    refs = {"repo": repo}
    for tag, probe in (("v1", "true"), ("v2", "true"), ("broken", "false")):
        dockerfile = DOCKERFILE.format(version=tag, probe=probe).encode()
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            tar.add("/bin/busybox", "busybox")
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tar.addfile(info, io.BytesIO(dockerfile))
        context.seek(0)
        docker_client.images.build(fileobj=context, custom_context=True, tag=f"{repo}:{tag}",
                                   rm=True)
        digest = None
        for chunk in docker_client.api.push(repo, tag=tag, stream=True, decode=True,
                                            auth_config=auth):
            assert "error" not in chunk, chunk
            digest = (chunk.get("aux") or {}).get("Digest") or digest
        refs[tag] = f"{repo}:{tag}@{digest}"
    return refs


def multinode_lab():
    """The multi-node lab, or a skip (a failure with SHIPWAY_REQUIRE_LAB=1) saying why not."""
    problem = unsupported_reason() and f"this machine cannot run it: {unsupported_reason()}"
    lab = None
    if not problem:
        try:
            lab = MultiLab()
            lab.client("m1").ping()
        except (FileNotFoundError, docker.errors.DockerException) as exc:
            problem = f"the multi-node lab is not up (lab/up --nodes 3+1): {exc}"
    if problem:
        if os.environ.get("SHIPWAY_REQUIRE_LAB") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    return lab


class Promotion:
    """One catalog (staging on the one-node lab; production where `production` says),
    shipway with each environment's own registry login, and cleanup of both swarms."""

    def __init__(self, lab, work, images, entry, production=None):
        self.entry, self.images, self.work = entry, images, work
        production = production or {}
        self.catalog = os.path.join(work, f"{entry}.yml")
        with open(self.catalog, "w", encoding="utf-8") as handle:
            handle.write(CATALOG.format(
                local=LOCAL_HOST, local_registry=lab["SHIPWAY_REGISTRY"], entry=entry,
                production_host=production.get("host", LOCAL_HOST),
                production_registry=production.get("registry", lab["SHIPWAY_REGISTRY"]),
                repo=images["repo"], timeout=TEST_TIMEOUT))
        self.run = Shipway(lab, work)
        self.run.env.update({
            "SHIPWAY_ACTOR": "jenkins",
            "SHIPWAY_REGISTRY_USER_STAGING": lab["SHIPWAY_REGISTRY_USER"],
            "SHIPWAY_REGISTRY_PASSWORD_FILE_STAGING": lab["SHIPWAY_REGISTRY_PASSWORD_FILE"],
            "SHIPWAY_REGISTRY_USER_PRODUCTION": production.get(
                "user", lab["SHIPWAY_REGISTRY_USER"]),
            "SHIPWAY_REGISTRY_PASSWORD_FILE_PRODUCTION": production.get(
                "password_file", lab["SHIPWAY_REGISTRY_PASSWORD_FILE"])})

    def __call__(self, stage, *args, **kw):
        return self.run(stage, "--catalog", self.catalog, "--service", self.entry, *args, **kw)

    def deploy(self, tag, *flags, check=0):
        return self("deploy", "--environment", "staging", "--image", self.images[tag], *flags,
                    check=check)

    def promote(self, *flags, check=0, env=None):
        return self("promote", "--from", "staging", "--to", "production", *flags, check=check,
                    env=env)

    def releases(self, environment):
        return json.loads(self("releases", "--environment", environment, "--json",
                               check=0).stdout)


@pytest.fixture(scope="module")
def staged(lab, images, docker_client, tmp_path_factory):
    """v1 deployed to staging once: (entry, its service there); removed after the module."""
    entry = random_name("promo")
    work = str(tmp_path_factory.mktemp("staged"))
    Promotion(lab, work, images, entry).deploy("v1")
    yield entry
    remove_service_and_releases(docker_client, f"{entry}-staging")


@pytest.mark.multinode
def test_promote_across_the_labs_copies_the_image_and_runs_the_same_digest(
        lab, images, staged, tmp_path, docker_client):
    mlab = multinode_lab()
    production = {"host": mlab.socket("m1"), "registry": mlab.env["SHIPWAY_REGISTRY"],
                  "user": mlab.env["SHIPWAY_REGISTRY_USER"],
                  "password_file": mlab.env["SHIPWAY_REGISTRY_PASSWORD_FILE"]}
    promotion = Promotion(lab, str(tmp_path), images, staged, production)
    prod = mlab.client("m1")
    digest = images["v1"].rsplit("@", 1)[1]
    path = images["repo"].split("/", 1)[1]
    try:
        dry = promotion.promote("--dry-run", check=0)
        assert (f"copy {images['repo']}@{digest} to {production['registry']}/{path}:v1 "
                "(the same digest)") in dry.stdout
        assert f"create service {staged}-prod with " in dry.stdout
        with pytest.raises(docker.errors.NotFound):
            prod.services.get(f"{staged}-prod")       # a dry run changes nothing

        done = promotion.promote(env={"SHIPWAY_APPROVED_BY": "ops-bob"})
        assert done.stdout.strip() == (f"{staged}: promoted release #1 ({digest[:19]}...) "
                                       "from staging to production as release #1 "
                                       "(2/2 running)")
        assert f"copying {images['repo']}@{digest}" in done.stderr
        # production runs staging's digest: in its task specs and in its containers' images
        assert running_digests(prod, f"{staged}-prod") == [digest, digest]
        assert running_digests(docker_client, f"{staged}-staging") == [digest]
        for found in mlab.container_digests(f"{staged}-prod").values():
            assert digest in found
        # the image is in production's own registry under the same digest
        with open(production["password_file"], encoding="utf-8") as handle:
            login = (production["user"], handle.read().strip())
        answer = requests.get(f"http://{production['registry']}/v2/{path}/manifests/{digest}",
                              auth=login, headers={"Accept": MANIFESTS}, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Docker-Content-Digest"] == digest
        (release,) = promotion.releases("production")
        assert release["promoted_from"] == {"environment": "staging", "release": 1,
                                            "digest": digest}
        assert (release["approved_by"], release["deployed_by"]) == ("ops-bob", "jenkins")
        assert release["image"] == f"{production['registry']}/{path}:v1@{digest}"
    finally:
        remove_service_and_releases(prod, f"{staged}-prod")
        mlab.close()


def test_two_environments_on_one_swarm_share_the_registry_without_a_copy(
        lab, images, staged, tmp_path, docker_client):
    promotion = Promotion(lab, str(tmp_path), images, staged)
    digest = images["v1"].rsplit("@", 1)[1]
    try:
        done = promotion.promote("--approved-by", "carol")
        assert "copying" not in done.stderr
        assert "from staging to production as release #1 (2/2 running)" in done.stdout
        assert running_digests(docker_client, f"{staged}-prod") == [digest, digest]
        service = docker_client.api.inspect_service(f"{staged}-prod")
        assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == images["v1"]
        (release,) = promotion.releases("production")
        assert release["approved_by"] == "carol"
        assert release["promoted_from"]["environment"] == "staging"
        # again: production runs it already, nothing is written
        again = promotion.promote("--json")
        record = json.loads(again.stdout)
        assert record["action"] == "unchanged" and record["ok"]
        assert record["promotion"]["copy"] is None
        assert record["promotion"]["release"]["seq"] == 1
    finally:
        remove_service_and_releases(docker_client, f"{staged}-prod")


def refused(promotion, docker_client, what):
    """Promote, expecting a refusal saying `what`; nothing made in production."""
    done = promotion.promote(check=1)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(what), done.stderr     # the error is one line, said last
    with pytest.raises(docker.errors.NotFound):
        docker_client.services.get(f"{promotion.entry}-prod")
    assert not docker_client.api.configs(
        filters={"label": f"shipway.release.service={promotion.entry}-prod"})
    return done.stderr


def test_refusals_of_what_staging_runs(lab, images, tmp_path, docker_client):
    entry = random_name("promo")
    promotion = Promotion(lab, str(tmp_path), images, entry)
    try:
        refused(promotion, docker_client, f"error: staging runs no release of {entry}: there "
                                          f"is no service {entry}-staging there")
        promotion.deploy("v1")
        promotion.deploy("v2")
        promotion("rollback", "--environment", "staging", check=0)
        refused(promotion, docker_client, f"error: staging runs release #1 of {entry} after a "
                                          "rollback: release #2 ")
        promotion.deploy("broken", "--update-failure-action", "pause", check=1)
        refused(promotion, docker_client, f"error: staging is mid-update: service "
                                          f"{entry}-staging has its update paused")
    finally:
        for name in (f"{entry}-staging", f"{entry}-prod"):
            remove_service_and_releases(docker_client, name)


def test_bad_input_changes_nothing(lab, images, staged, tmp_path, docker_client):
    promotion = Promotion(lab, str(tmp_path), images, staged)
    for flags, what in ((("--from", "staging", "--to", "staging"),
                         "--from and --to are both 'staging'"),
                        (("--from", "staging", "--to", "qa"), "no environment 'qa'")):
        done = promotion("promote", *flags, check=2)
        assert what in done.stderr and len(done.stderr.strip().splitlines()) == 1
    down = Promotion(lab, str(tmp_path), images, staged,
                     {"host": "unix:///nonexistent/production.sock"})
    done = down.promote(check=2)
    assert done.stderr.startswith("error: environment 'production': cannot reach the Docker "
                                  "Engine at unix:///nonexistent/production.sock")
    assert lab["password"] not in done.stderr
    with pytest.raises(docker.errors.NotFound):
        docker_client.services.get(f"{staged}-prod")
