"""A whole stack file as a group release: waves by depends_on, each service's spec as
`docker stack deploy` makes it (compared field by field), and --prune for a service the file
no longer has; `remove --group` taking a stack down as `docker stack rm` does, and a catalog
group's members and records."""
import contextlib
import json
import os
import subprocess

import docker.errors
import pytest

from pipeline.catalog import compose_file
from tests.integration.conftest import member_entries, random_name, remove_service_and_releases
from tests.integration.test_stack_parity import (
    _docker_config,
    differences,
    named_networks,
    network_facts,
    remove_stack,
    remove_volumes,
    same_stack,
    stack_deploy,
    stack_shape,
)
from tests.support.poll import poll_until

pytestmark = pytest.mark.integration

STACK = """
version: "3.8"
x-policy: &policy
  update_config: {parallelism: 1, delay: 0s, order: start-first, failure_action: rollback, monitor: 1s}
services:
  db:
    image: ${IMAGE}
    networks: [back]
    volumes: [data:/data]
    stop_grace_period: 1s
    deploy: {replicas: 1, <<: *policy, labels: {tier: data}}
  api:
    image: ${IMAGE}
    depends_on: [db]
    networks: [back, front]
    stop_grace_period: 1s
    environment: {ROLE: api}
    deploy: {replicas: 1, <<: *policy}
""" + """\
  web:
    image: ${IMAGE}
    depends_on: [api]
    networks: [front]
    stop_grace_period: 1s
    deploy: {replicas: 1, endpoint_mode: dnsrr, <<: *policy}
""" + """\
networks:
  back: {driver: overlay}
  front: {driver: overlay, attachable: true, labels: {zone: edge}}
volumes:
  data: {}
"""  # noqa: E501 (a stack file as users write it)


WEB = STACK[STACK.index("  web:"):STACK.index("networks:\n  back")]


@pytest.fixture
def stack_world(lab, docker_client, releases, tmp_path):
    stack = "s" + random_name("").split("-")[1]
    (tmp_path / "docker-stack.yml").write_text(STACK)
    (tmp_path / "shipway.yml").write_text(json.dumps({
        "services": {"unused": {"image": releases["repo"]}},
        "groups": {"shop": {"compose": {"file": "docker-stack.yml", "stack": stack}}}}))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "IMAGE": releases["v1"],
           "DOCKER_CONFIG": _docker_config(tmp_path, lab)}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    yield stack, tmp_path, env
    remove_stack(docker_client, stack, env)
    for config in docker_client.api.configs(filters={"label": "shipway.group.name=shop"}):
        if stack in json.dumps(docker_client.api.inspect_config(config["ID"])):
            docker_client.api.remove_config(config["ID"])
    for config in docker_client.api.configs():
        if f"-{stack}_" in config["Spec"]["Name"]:
            docker_client.api.remove_config(config["ID"])
    remove_volumes(docker_client, stack)


def test_a_stack_file_deploys_in_waves_as_stack_deploy_makes_it_and_prunes(
        shipway, stack_world, docker_client, releases):
    stack, files, env = stack_world
    client = docker_client
    stack_deploy(str(files / "docker-stack.yml"), stack, env)
    theirs, their_networks, their_names, _ = stack_shape(client, stack)
    assert sorted(theirs) == ["api", "db", "web"]
    remove_stack(client, stack, env)

    group = ("--catalog", str(files / "shipway.yml"), "--group", "shop")
    ran = shipway("deploy", *group, env={"IMAGE": releases["v1"]}, check=0)
    steps = [line for line in ran.stderr.splitlines() if "group shop: step" in line]
    assert [s.split("group shop: ", 1)[1] for s in steps] == [
        "step 1 (db)", "step 2 (api)", "step 3 (web)"]
    ours, our_networks, our_names, _ = stack_shape(client, stack)
    report = []
    for member in ("db", "api", "web"):
        report += [f"{member}: {line}" for line in differences(
            same_stack(named_networks(client, theirs[member], their_names), set()),
            same_stack(named_networks(client, ours[member], our_names), set()))]
    assert sorted(our_networks) == sorted(their_networks)
    for name, network in their_networks.items():
        report += [f"network {name}: {line}" for line in differences(
            network_facts(network, set()), network_facts(our_networks[name], set()))]
    assert report == [], "\n".join(report)

    # web leaves the file: named without --prune, removed with it
    (files / "docker-stack.yml").write_text(STACK.replace(WEB, ""))
    assert list(compose_file.stack_services(str(files / "docker-stack.yml"), env)) == \
        ["db", "api"]
    kept = shipway("deploy", *group, "--dry-run", env={"IMAGE": releases["v1"]}, check=0)
    assert f"would leave service {stack}_web: not in the stack file any more" in kept.stdout
    assert client.api.services(filters={"name": f"{stack}_web"})
    shipway("deploy", *group, "--prune", env={"IMAGE": releases["v1"]}, check=0)
    assert not [s for s in client.api.services(filters={"name": f"{stack}_web"})
                if s["Spec"]["Name"] == f"{stack}_web"]
    assert [s["Spec"]["Name"] for s in client.api.services(
        filters={"label": f"com.docker.stack.namespace={stack}"})] != []


# The stack file of the removal tests, also what tests/fixtures/groupremove/record.py reads.
with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "fixtures", "groupremove", "docker-stack.yml"), encoding="utf-8") as _file:
    REMOVABLE = _file.read()
DOCKER_NEW = "/usr/local/bin/docker"   # has `stack rm --detach=false`
STACK_LABEL = "com.docker.stack.namespace"


def labelled(client, stack):
    """kind -> the sorted names of what the stack's namespace label names."""
    label = {"label": f"{STACK_LABEL}={stack}"}
    return {"services": sorted(s["Spec"]["Name"] for s in client.api.services(filters=label)),
            "networks": sorted(n["Name"] for n in client.api.networks(filters=label)),
            "configs": sorted(c["Spec"]["Name"] for c in client.api.configs(filters=label)),
            "secrets": sorted(c["Spec"]["Name"] for c in client.api.secrets(filters=label)),
            "volumes": sorted(v.name for v in client.volumes.list(filters=label))}


def records(client, label, value):
    """The names of the configs shipway keeps as records with label=value."""
    return sorted(c["Spec"]["Name"] for c in client.api.configs(
        filters={"label": f"{label}={value}"}))


def _remove_records(client, label, value):
    for config in client.api.configs(filters={"label": f"{label}={value}"}):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_config(config["ID"])


@pytest.fixture
def removable(stack_world, docker_client, releases):
    """The stack world with REMOVABLE under a group of a random name (group records are
    keyed by it: the lab is shared), and an external network the file joins."""
    stack, files, env = stack_world
    group = "g" + random_name("").split("-")[1]
    outside = f"{stack}-outside"
    docker_client.networks.create(outside, driver="overlay")   # no stack label: not ours
    (files / "app.conf").write_text("answer = 42\n")
    (files / "token.txt").write_text("not-a-real-token\n")
    (files / "docker-stack.yml").write_text(REMOVABLE)
    (files / "shipway.yml").write_text(json.dumps({
        "services": {"unused": {"image": releases["repo"]}},
        "groups": {group: {"compose": {"file": "docker-stack.yml", "stack": stack}}}}))
    yield stack, group, files, {**env, "OUTSIDE": outside}
    _remove_records(docker_client, "shipway.group.name", group)
    remove_stack(docker_client, stack, env)
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.networks.get(outside).remove()


def test_remove_group_takes_a_stack_down_as_docker_stack_rm_does(shipway, removable,
                                                                docker_client):
    stack, group, files, env = removable
    client = docker_client
    given = {"IMAGE": env["IMAGE"], "OUTSIDE": env["OUTSIDE"]}
    args = ("--catalog", str(files / "shipway.yml"), "--group", group)
    shipway("deploy", *args, env=given, check=0)
    before = labelled(client, stack)
    assert before["services"] == [f"{stack}_db", f"{stack}_web"]
    assert before["networks"] == [f"{stack}_back"] and before["volumes"] == [f"{stack}_data"]
    assert len(before["configs"]) == 1 and len(before["secrets"]) == 1
    kept = {name: records(client, "shipway.release.service", name)
            for name in before["services"]}
    assert all(kept.values()) and records(client, "shipway.group.name", group)

    dry = shipway("remove", *args, "--dry-run", env=given, check=0)
    assert f"remove network {stack}_back (stack {stack})" in dry.stdout
    assert f"volumes kept, as data: {stack}_data" in dry.stdout
    assert env["OUTSIDE"] not in dry.stdout
    planned = shipway.json("remove", *args, "--dry-run", env=given)
    assert planned["dry_run"] and planned["volumes_kept"] == [f"{stack}_data"]
    assert labelled(client, stack) == before
    assert {name: records(client, "shipway.release.service", name)
            for name in before["services"]} == kept

    done = shipway.json("remove", *args, env=given)
    assert done["ok"] and done["left"] == [], done
    ours = labelled(client, stack)
    assert ours == {"services": [], "networks": [], "configs": [], "secrets": [],
                    "volumes": [f"{stack}_data"]}
    assert not [name for name in before["services"]
                if records(client, "shipway.release.service", name)]
    assert records(client, "shipway.group.name", group) == []
    assert client.networks.get(env["OUTSIDE"]).name == env["OUTSIDE"]   # external: untouched

    # docker stack rm of the same file leaves the same: the volume and the external network
    stack_deploy(str(files / "docker-stack.yml"), stack, env)
    assert labelled(client, stack)["services"] == before["services"]
    removed = subprocess.run([DOCKER_NEW, "stack", "rm", "--detach=false", stack], env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert removed.returncode == 0, removed.stderr
    # swarm deletes a network once its tasks are gone: stack rm does not wait for that
    poll_until(lambda: labelled(client, stack) == ours, 30,
               lambda: f"docker stack rm to leave what remove --group left: "
                       f"{labelled(client, stack)}")
    assert client.networks.get(env["OUTSIDE"]).name == env["OUTSIDE"]


def test_remove_group_of_a_catalog_group_removes_members_and_records(shipway, docker_client,
                                                                     releases, tmp_path):
    client = docker_client
    names = {m: random_name(f"rm{m}") for m in ("a", "b", "c")}
    group = "g" + random_name("").split("-")[1]
    path = tmp_path / "catalog.yml"
    path.write_text("services:" + member_entries(names, releases["repo"]) +
                    f"groups:\n  {group}: {{steps: [{names['a']}, [{names['b']}, "
                    f"{names['c']}]]}}\n")
    args = ("--catalog", str(path), "--group", group)
    try:
        shipway("deploy", *args, *[f"--image={n}={releases['v1']}" for n in names.values()],
                check=0)
        assert records(client, "shipway.group.name", group)
        remove_service_and_releases(client, names["c"])   # a member gone already is a line
        gone = shipway("remove", *args, check=0)
        assert f"{names['c']} ({names['c']}): no service and no release records: nothing " \
               "to remove" in gone.stderr
        assert gone.stderr.index(f"service {names['b']} removed") < \
            gone.stderr.index(f"service {names['a']} removed")   # newest step first
        assert gone.stdout.strip() == f"group {group} removed"
        for name in names.values():
            assert not [s for s in client.api.services(filters={"name": name})
                        if s["Spec"]["Name"] == name]
            assert records(client, "shipway.release.service", name) == []
        assert records(client, "shipway.group.name", group) == []
    finally:
        for name in names.values():
            remove_service_and_releases(client, name)
        _remove_records(client, "shipway.group.name", group)
