"""A whole stack file as a group release: waves by depends_on, each service's spec as
`docker stack deploy` makes it (compared field by field), and --prune for a service the file
no longer has."""
import json
import os

import pytest

from pipeline.catalog import compose_file
from tests.integration.conftest import random_name
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
