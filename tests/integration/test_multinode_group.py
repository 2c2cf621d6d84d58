"""A group release on the multi-node lab: two services of two replicas each, spread over the
nodes (one task per node at most), updated as a group and rolled back as one. Every node
pulls the releases with the credentials the deploys send (test_multinode's fixtures).
Selected with `-m multinode`."""
import pytest

from tests.integration.conftest import TEST_TIMEOUT, random_name
from tests.integration.test_multinode import digest, mlab, mreleases, shipway_on  # noqa: F401
from tests.support.multinode import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.multinode]


@pytest.fixture
def spread(mlab, mreleases, tmp_path):  # noqa: F811 (fixtures)
    """A catalog: services a and b, 2 replicas each, at most one task per node; group
    pair = [a, b]. Both and their records are removed afterwards."""
    prefix = random_name("mg")
    names = {m: f"{prefix}-{m}" for m in "ab"}
    entries = "".join(f"""
  {names[m]}:
    image: {mreleases['repo']}
    stop_grace_period: 1s
    deploy:
      replicas: 2
      placement: {{max_replicas_per_node: 1}}
      timeout: {TEST_TIMEOUT}
      update_config: {{parallelism: 1, delay: 0s, order: stop-first, failure_action: rollback, monitor: 1s}}
""" for m in "ab")  # noqa: E501 (written as users write it)
    path = tmp_path / "shipway.yml"
    path.write_text(f"services:{entries}\ngroups:\n  {prefix}-pair: {{steps: [{names['a']}, "
                    f"{names['b']}]}}\n")
    yield str(path), names, prefix
    api = mlab.manager().api
    for name in names.values():
        if api.services(filters={"name": name}):
            api.remove_service(name)
    for config in api.configs():
        if prefix in config["Spec"]["Name"]:
            api.remove_config(config["ID"])


def test_a_group_spread_over_the_nodes_updates_and_rolls_back_as_one(
        mlab, mreleases, spread, tmp_path):  # noqa: F811 (fixtures)
    catalog, names, prefix = spread
    run = shipway_on(mlab, "m2", str(tmp_path))       # any manager will do
    group = ("--catalog", catalog, "--group", f"{prefix}-pair")

    def images(release):
        return [arg for m in "ab" for arg in ("--image", f"{names[m]}={mreleases[release]}")]

    assert run.json("deploy", *group, *images("v1"))["group_release"] == 1
    assert run.json("deploy", *group, *images("v2"))["group_release"] == 2
    for name in names.values():
        tasks = mlab.running_tasks(name)
        assert len({node for node, _ in tasks}) == 2                 # two nodes each
        assert {image for _, image in tasks} == {mreleases["v2"]}
        on_nodes = mlab.container_digests(name)
        assert set().union(*on_nodes.values()) == {digest(mreleases["v2"])}
    back = run.json("rollback", *group)
    assert back["ok"] and back["to"] == 1
    for name in names.values():
        wait_for(lambda name=name: {i for _, i in mlab.running_tasks(name)}
                 == {mreleases["v1"]}, 30, f"{name} on v1")
