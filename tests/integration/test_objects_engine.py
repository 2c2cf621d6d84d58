"""Secrets and configs that rotate with content, on the real engine (pipeline/swarm/objects.py).

A secret from an environment variable (as Jenkins credentials binding sets it) and a config
from a file are created, re-ensured (nothing new), rotated (new content, new objects), mounted
by a real service whose containers hold the right content (checked by sha256 inside them),
and collected: only the unreferenced objects shipway made go, never a hand-made or external
one, and one still used by a service is skipped. The secret value is in no report line and in
no `docker secret inspect`, `docker service inspect` or `docker config inspect` output.
"""
import hashlib
import json
import secrets
import subprocess

import pytest

from pipeline.api import engine
from pipeline.errors import EngineError, UsageError
from pipeline.swarm import objects
from tests.integration.conftest import random_name, wait_for
from tests.integration.test_secrets import Sentinels
from tests.support.busybox import build_sleeper

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def image(docker_client):
    """A FROM-scratch busybox image that sleeps, built locally (the swarm has one node)."""
    tag = build_sleeper(docker_client, f"{random_name('objects')}:1")
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture
def service(docker_client):
    """A random service name with upper case and '_'; everything made for it goes after."""
    import docker

    name = random_name("Obj_Svc")
    made = []  # (kind, id) made by hand in the test
    yield name, made
    api = docker_client.api
    try:
        docker_client.services.get(name).remove()
    except docker.errors.NotFound:
        pass
    for kind in objects.KINDS:
        for obj in getattr(api, f"{kind}s")(filters={"label": f"{objects.SERVICE_LABEL}={name}"}):
            getattr(api, f"remove_{kind}")(obj["ID"])
    for kind, object_id in made:
        try:
            getattr(api, f"remove_{kind}")(object_id)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def key(docker_client):
    """The swarm's naming key; removed after the test when the test created it."""
    api = docker_client.api
    existed = engine.find_object(api, "config", objects.KEY_CONFIG) is not None
    yield objects.naming_key(api)
    if not existed:
        found = engine.find_object(api, "config", objects.KEY_CONFIG)
        if found:
            engine.remove_object(api, "config", found["ID"])


def container_spec(image, secret, external, config):
    return {"Image": image, "StopGracePeriod": 100_000_000,
            "Secrets": [{"File": {"Name": "db", "UID": "0", "GID": "0", "Mode": 0o400},
                         "SecretID": secret["ID"], "SecretName": secret["Name"]},
                        {"File": {"Name": "ext", "UID": "0", "GID": "0", "Mode": 0o400},
                         "SecretID": external["ID"], "SecretName": external["Name"]}],
            "Configs": [{"File": {"Name": "/etc/app.yml", "UID": "0", "GID": "0",
                                  "Mode": 0o444},
                         "ConfigID": config["ID"], "ConfigName": config["Name"]}]}


def mounted_sha256(client, service_id, path, want):
    """The sha256 of `path` in the service's running container once it is `want`."""
    def check():
        for task in client.api.tasks(filters={"service": service_id,
                                              "desired-state": "running"}):
            if task["Status"]["State"] != "running":
                continue
            container = client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
            code, out = container.exec_run(["/bin/busybox", "sha256sum", path])
            if code == 0 and out.split()[0].decode() == want:
                return True
        return False
    return wait_for(check, timeout=60, poll=0.2, what=f"{path} with sha256 {want[:12]}")


def test_rotate_reuse_mount_and_collect(docker_client, image, service, key, tmp_path):
    client, api = docker_client, docker_client.api
    name, made = service
    values = [secrets.token_hex(16), secrets.token_hex(16)]
    sentinels = Sentinels(first=values[0], second=values[1])
    lines = []
    external = api.create_secret(random_name("ext-secret"), b"external " + secrets.token_bytes(8))
    handmade = api.create_config(f"{name}_app.yml_handmade", b"by hand\n")
    made += [("secret", external["ID"]), ("config", handmade["ID"])]
    external_name = api.inspect_secret(external["ID"])["Spec"]["Name"]
    secret_defs = {"db": {"environment": "APP_DB_PASSWORD"},
                   "ext": {"external": True, "name": external_name}}
    config_defs = {"app.yml": {"file": "conf/app.yml"}}
    (tmp_path / "conf").mkdir()

    def deploy_objects(generation):
        (tmp_path / "conf" / "app.yml").write_text(f"generation: {generation}\n")
        environ = {"APP_DB_PASSWORD": values[generation]}
        wanted_secrets = objects.plan(name, "secret", secret_defs, ["db", "ext"],
                                      str(tmp_path), environ, key)
        wanted_configs = objects.plan(name, "config", config_defs, ["app.yml"],
                                      str(tmp_path), environ)
        return (objects.ensure(api, wanted_secrets, lines.append),
                objects.ensure(api, wanted_configs, lines.append))

    first_secrets, first_configs = deploy_objects(0)
    assert first_secrets["ext"] == {"Name": external_name, "ID": external["ID"]}
    assert first_secrets["db"]["Name"].startswith(f"{name}_db_")
    again = deploy_objects(0)
    assert again == (first_secrets, first_configs)                 # same content: same ids
    assert sum("reused" in line for line in lines) == 2

    spec = {"Name": name, "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {"ContainerSpec": container_spec(
                image, first_secrets["db"], first_secrets["ext"], first_configs["app.yml"])}}
    service_id = engine.create_service(api, spec)
    mounted_sha256(client, service_id, "/run/secrets/db",
                   hashlib.sha256(values[0].encode()).hexdigest())

    second_secrets, second_configs = deploy_objects(1)
    assert second_secrets["db"]["ID"] != first_secrets["db"]["ID"]
    assert second_configs["app.yml"]["ID"] != first_configs["app.yml"]["ID"]
    assert second_secrets["ext"] == first_secrets["ext"]
    spec["TaskTemplate"]["ContainerSpec"] = container_spec(
        image, second_secrets["db"], second_secrets["ext"], second_configs["app.yml"])
    engine.update_service(api, service_id, api.inspect_service(service_id)["Version"]["Index"],
                          spec)
    mounted_sha256(client, service_id, "/run/secrets/db",
                   hashlib.sha256(values[1].encode()).hexdigest())
    mounted_sha256(client, service_id, "/etc/app.yml",
                   hashlib.sha256(b"generation: 1\n").hexdigest())

    current = api.inspect_service(service_id)
    # PreviousSpec still names generation 0: nothing goes (the Engine would let it go).
    assert objects.collect_garbage(api, name, [current["Spec"], current["PreviousSpec"]],
                                   lines.append) == []
    planned = objects.collect_garbage(api, name, [current["Spec"]], lines.append, dry_run=True)
    assert planned == [("secret", first_secrets["db"]["Name"]),
                       ("config", first_configs["app.yml"]["Name"])]
    assert engine.find_object(api, "secret", first_secrets["db"]["Name"])  # dry run: kept
    assert objects.collect_garbage(api, name, [current["Spec"]], lines.append) == planned
    assert engine.find_object(api, "secret", first_secrets["db"]["Name"]) is None
    assert engine.find_object(api, "config", first_configs["app.yml"]["Name"]) is None
    # Generation 1 is in the service's spec: the Engine refuses, GC skips it without a word.
    assert objects.collect_garbage(api, name, [], lines.append) == []
    for kind, ref in (("secret", second_secrets["db"]), ("config", second_configs["app.yml"])):
        assert engine.find_object(api, kind, ref["Name"])["ID"] == ref["ID"]

    shown = subprocess.run(["docker", "secret", "inspect", first_secrets["db"]["ID"],
                            second_secrets["db"]["ID"], external["ID"]],
                           capture_output=True, check=False).stdout
    shown += subprocess.run(["docker", "service", "inspect", name], capture_output=True,
                            check=True).stdout
    shown += subprocess.run(["docker", "config", "inspect", second_configs["app.yml"]["ID"],
                             objects.KEY_CONFIG], capture_output=True, check=True).stdout
    shown += json.dumps(lines).encode()
    assert sentinels.found_in(shown + values[0].encode()) == ["first"]   # the check sees it
    assert sentinels.found_in(shown) == []

    client.services.get(service_id).remove()
    removed = objects.remove_all(api, name, lines.append)
    assert sorted(removed) == [("config", second_configs["app.yml"]["Name"]),
                               ("secret", second_secrets["db"]["Name"])]
    # the external secret and the hand-made config (no shipway labels) are still there
    assert api.inspect_secret(external["ID"])["ID"] == external["ID"]
    assert api.inspect_config(handmade["ID"])["ID"] == handmade["ID"]
    assert sentinels.found_in(json.dumps(lines)) == []


def test_missing_external_creates_nothing(docker_client, service, key, tmp_path):
    api = docker_client.api
    name, _ = service
    wanted = objects.plan(name, "secret", {"db": {"environment": "V"},
                                           "ext": {"external": True,
                                                   "name": random_name("absent")}},
                          ["db", "ext"], str(tmp_path), {"V": secrets.token_hex(8)}, key)
    with pytest.raises(UsageError, match="does not exist"):
        objects.ensure(api, wanted, None)
    assert engine.find_object(api, "secret", wanted[0].name) is None


def test_a_config_of_that_name_with_other_content_is_refused(docker_client, service, tmp_path):
    api = docker_client.api
    name, made = service
    (tmp_path / "c").write_text("wanted\n")
    wanted = objects.plan(name, "config", {"c": {"file": "c"}}, ["c"], str(tmp_path), {})
    made.append(("config", api.create_config(wanted[0].name, b"other\n")["ID"]))
    with pytest.raises(EngineError, match="exists with other content"):
        objects.ensure(api, wanted, None)
    # a create that loses the race to another gives None, and ensure() reuses the winner
    (tmp_path / "c").write_text("raced\n")
    raced = objects.plan(name, "config", {"c": {"file": "c"}}, ["c"], str(tmp_path), {})
    winner = engine.create_object(api, "config", raced[0].name, b"raced\n", raced[0].labels)
    assert engine.create_object(api, "config", raced[0].name, b"raced\n", {}) is None
    assert objects.ensure(api, raced, None)["c"]["ID"] == winner
