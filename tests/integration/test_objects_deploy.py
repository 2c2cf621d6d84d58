"""Catalog secrets through `shipway deploy` on the real engine (issue 9).

One secret from a file and one from an environment variable (as Jenkins credentials binding
sets it), next to an external one: deployed, rotated (new content: a new object, the service
updated, the container reads the new content), rolled back (the old reference and content),
and collected with the releases (keep_releases 2): only objects no kept release, running spec or
PreviousSpec refers to go, never the external one. No value is in any output, release record,
service spec or argv. The catalog lives in a directory of its own, away from the working
directory, to check that its relative paths are relative to it.
"""
import base64
import secrets

import pytest

from pipeline.swarm import objects
from tests.integration.conftest import running_digests, wait_for
from tests.integration.test_adoption import Made, write
from tests.integration.test_secrets import ArgvWatch, Sentinels

pytestmark = pytest.mark.integration


@pytest.fixture
def made(docker_client):
    things = Made(docker_client, secrets_deployed=True)
    yield things
    things.cleanup()


def mounted(client, name, path):
    """The content of `path` in the service's running container (one replica)."""
    tasks = [t for t in client.api.tasks(filters={"service": name, "desired-state": "running"})
             if t["Status"]["State"] == "running"]
    assert len(tasks) == 1, tasks
    container = client.containers.get(tasks[0]["Status"]["ContainerStatus"]["ContainerID"])
    code, out = container.exec_run(["/bin/busybox", "cat", path])
    assert code == 0, out
    return out.decode()


def service_objects(api, name):
    """{secret name: id} of the secrets shipway made for service `name`."""
    return {s["Spec"]["Name"]: s["ID"]
            for s in api.secrets(filters={"label": f"{objects.SERVICE_LABEL}={name}"})}


def refs(client, name):
    """{target file: secret name} in the service's spec."""
    spec = client.api.inspect_service(name)["Spec"]["TaskTemplate"]["ContainerSpec"]
    return {s["File"]["Name"]: s["SecretName"] for s in spec["Secrets"]}


def test_secrets_rotate_roll_back_and_are_collected(shipway, releases, docker_client, made,
                                                    tmp_path):
    client, api = docker_client, docker_client.api
    name = made.service("adopt-obj")
    values = {k: secrets.token_hex(12) for k in ("A", "B", "C", "D", "E1", "E2", "X")}
    sentinels = Sentinels(**values)
    external = made.secret(f"external {values['X']}".encode())
    conf = tmp_path / "conf"
    conf.mkdir()
    write(conf / "app.env", "APP_MODE=adopted\n")
    catalog = write(conf / "catalog.yml", f"""
secrets:
  filesec: {{file: secret.txt}}
  envsec: {{environment: ADOPT_DB_PASSWORD}}
  ext: {{external: true, name: {external}}}
services:
  {name}:
    image: {releases['repo']}
    env_file: app.env
    secrets: [filesec, {{source: envsec, target: db_password}}, ext]
    stop_grace_period: 1s
    deploy:
      replicas: 1
      keep_releases: 2
      timeout: 60s
      update_config: {{delay: 0s, monitor: 1s}}
      rollback_config: {{delay: 0s, monitor: 1s}}
""")
    args = ("--catalog", catalog, "--service", name)
    outputs = []
    watch = ArgvWatch(sentinels, limit=300)
    watch.start()

    def deploy(image, file_value, env_value):
        (conf / "secret.txt").write_text(file_value)
        proc = shipway("deploy", *args, "--image", releases[image], check=0,
                       env={"ADOPT_DB_PASSWORD": env_value})
        outputs.append(proc.stdout + proc.stderr)
        return proc

    def sees(file_value, env_value):
        assert mounted(client, name, "/run/secrets/filesec") == file_value
        assert mounted(client, name, "/run/secrets/db_password") == env_value
        assert mounted(client, name, "/run/secrets/ext") == f"external {values['X']}"

    try:
        deploy("v1", values["A"], values["E1"])
        sees(values["A"], values["E1"])
        spec = api.inspect_service(name)["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert "APP_MODE=adopted" in spec["Env"]          # env_file relative to the catalog
        first = refs(client, name)
        assert first["ext"] == external
        assert set(service_objects(api, name)) == {first["filesec"], first["db_password"]}

        (conf / "secret.txt").write_text(values["B"])     # a dry run shows the rotation,
        dry = shipway.json("deploy", *args, "--image", releases["v1"], "--dry-run",  # makes none
                           env={"ADOPT_DB_PASSWORD": values["E1"]})
        outputs.append(str(dry))
        assert [c["path"] for c in dry["changes"]] == ["TaskTemplate.ContainerSpec.Secrets"]
        assert set(service_objects(api, name)) == {first["filesec"], first["db_password"]}
        deploy("v1", values["B"], values["E1"])           # rotate the file's secret
        second = refs(client, name)
        assert second["filesec"] != first["filesec"]
        assert second["db_password"] == first["db_password"]   # same content, same object
        sees(values["B"], values["E1"])

        back = shipway("rollback", *args, "--json", check=0)
        outputs.append(back.stdout + back.stderr)
        assert refs(client, name) == first
        sees(values["A"], values["E1"])

        deploy("v2", values["C"], values["E2"])           # release #3: #1 pruned, but it is
        third = refs(client, name)                        # still the PreviousSpec
        assert {first["filesec"], second["filesec"], third["filesec"]} <= set(
            service_objects(api, name))
        deploy("v2", values["D"], values["E2"])           # #2 pruned; PreviousSpec is #3
        fourth = refs(client, name)
        assert running_digests(client, name) == [releases["v2"].rsplit("@", 1)[1]]
        sees(values["D"], values["E2"])
        kept = wait_for(lambda: set(service_objects(api, name)) == {
            third["filesec"], fourth["filesec"], fourth["db_password"]}, timeout=10,
            what="the unreferenced objects removed")
        assert kept
        assert api.inspect_secret(external)["Spec"]["Name"] == external   # never touched
    finally:
        watch.stop()

    records = [base64.b64decode(api.inspect_config(c["ID"])["Spec"]["Data"])
               for c in api.configs(filters={"label": f"shipway.release.service={name}"})]
    assert len(records) == 2
    shown = "\n".join(outputs).encode() + b"".join(records)
    shown += str(api.inspect_service(name)).encode()
    assert sentinels.found_in(shown) == []
    assert sentinels.found_in(shown + values["C"].encode()) == ["C"]     # the check sees one
    assert watch.sweeps > 10 and not watch.hits


def test_a_tag_the_registry_does_not_know_makes_no_secret_and_no_service(
        shipway, releases, docker_client, made, tmp_path):
    """The registry is asked while the service and its networks are read, but nothing is
    made before it answered: a tag never pushed leaves no secret, no config, no service."""
    api = docker_client.api
    name = made.service("adopt-notag")
    (tmp_path / "secret.txt").write_text(secrets.token_hex(8))
    catalog = write(tmp_path / "catalog.yml", f"""
secrets:
  filesec: {{file: secret.txt}}
services:
  {name}:
    image: {releases['repo']}
    secrets: [filesec]
    deploy: {{replicas: 1, timeout: 30s}}
""")
    proc = shipway("deploy", "--catalog", catalog, "--service", name,
                   "--image", f"{releases['repo']}:never-pushed-{secrets.token_hex(3)}",
                   check=1)
    assert "never-pushed" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, \
        proc.stderr
    assert service_objects(api, name) == {}
    assert api.configs(filters={"label": f"shipway.release.service={name}"}) == []
    assert api.services(filters={"name": name}) == []
