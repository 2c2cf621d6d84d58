"""Two environments on one swarm: --environment picks the service's name and keys there;
each keeps its own releases; commands on one leave the other as it is."""
import json
import os

import pytest

from tests.integration.conftest import TEST_TIMEOUT, remove_service_and_releases, running_digests

pytestmark = pytest.mark.integration


def digest(ref):
    return ref.rsplit("@", 1)[1]


@pytest.fixture
def two_envs(docker_client, service_name, releases, tmp_path):
    """A catalog whose service runs as NAME-staging (1 replica) and NAME-prod (2, COLOUR=red)
    on this one swarm; both services and their records are removed afterwards."""
    names = {"staging": f"{service_name}-staging", "production": f"{service_name}-prod"}
    path = tmp_path / "shipway.yml"
    path.write_text(f"""
environments:
  staging: {{}}
  production: {{approval: {{submitter: ops}}}}
services:
  {service_name}:
    image: {releases['repo']}
    stop_grace_period: 1s
    environment: {{COLOUR: blue}}
    deploy:
      replicas: 2
      timeout: {TEST_TIMEOUT}
      labels: {{shipway.test: "true"}}
      update_config: {{parallelism: 2, delay: 0s, order: start-first, failure_action: rollback, monitor: 1s}}
    environments:
      staging: {{name: {names['staging']}, deploy: {{replicas: 1}}}}
      production: {{name: {names['production']}, environment: {{COLOUR: red}}}}
""")  # noqa: E501 (written as users write it)
    yield str(path), names
    for name in names.values():
        remove_service_and_releases(docker_client, name)


def env_of(docker_client, name):
    spec = docker_client.api.inspect_service(name)["Spec"]
    return spec["TaskTemplate"]["ContainerSpec"].get("Env"), \
        spec["Mode"]["Replicated"]["Replicas"]


def test_two_environments_on_one_swarm_keep_apart(shipway, two_envs, service_name, releases,
                                                   docker_client, tmp_path):
    catalog, names = two_envs
    args = ("--catalog", catalog, "--service", service_name)
    shipway("deploy", *args, "--environment", "staging", "--image", releases["v1"], check=0,
            env={"SHIPWAY_ACTOR": "alice"})
    shipway("deploy", *args, "--image", releases["v2"], check=0,
            env={"SHIPWAY_ENVIRONMENT": "production", "SHIPWAY_ACTOR": "bob"})
    assert env_of(docker_client, names["staging"]) == (["COLOUR=blue"], 1)
    assert env_of(docker_client, names["production"]) == (["COLOUR=red"], 2)
    assert running_digests(docker_client, names["staging"]) == [digest(releases["v1"])]
    assert running_digests(docker_client, names["production"]) == [digest(releases["v2"])] * 2
    assert service_name not in [s.name for s in docker_client.services.list()]  # renamed

    staging = shipway.json("releases", *args, "--environment", "staging")
    production = shipway.json("releases", *args, "--environment", "production")
    assert [(r["seq"], r["deployed_by"], r["running"]) for r in staging] == [(1, "alice", True)]
    assert [(r["seq"], r["deployed_by"]) for r in production] == [(1, "bob")]
    status = shipway.json("status", *args, "--environment", "production")
    assert digest(status["image"]) == digest(releases["v2"])

    # each environment's deploy leaves its own hand-over file
    state = shipway.env["SHIPWAY_STATE_DIR"]
    with open(os.path.join(state, f"{service_name}.production.deploy.json")) as handle:
        assert json.load(handle)["service"] == names["production"]
    assert os.path.exists(os.path.join(state, f"{service_name}.staging.deploy.json"))

    # a rollback in production with nothing older changes nothing, here or in staging
    version = docker_client.api.inspect_service(names["staging"])["Version"]["Index"]
    refused = shipway("rollback", *args, "--environment", "production", check=1)
    assert "no release older than #1" in refused.stderr
    shipway("remove", *args, "--environment", "production", check=0)
    assert [s.name for s in docker_client.services.list(filters={"name": names["production"]})
            if s.name == names["production"]] == []
    assert docker_client.api.inspect_service(names["staging"])["Version"]["Index"] == version


def test_bad_environment_input_changes_nothing(shipway, two_envs, service_name, releases,
                                               docker_client):
    catalog, names = two_envs
    args = ("--catalog", catalog, "--service", service_name, "--image", releases["v1"])
    unknown = shipway("deploy", *args, "--environment", "qa", check=2)
    assert unknown.stderr.count("\n") == 1 and "environments: staging, production" in \
        unknown.stderr
    down = shipway("deploy", *args, "--environment", "staging", check=2,
                   env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert "environment 'staging'" in down.stderr and "unix:///nonexistent/docker.sock" in \
        down.stderr
    assert down.stderr.count("\n") == 1
    assert not [s for s in docker_client.services.list() if s.name in names.values()]
