"""Release history: rollback goes back release by release, also where swarm has no
previous spec; --to picks one; the spec is restored, not only the image; remove cleans up."""
import pytest

from tests.integration.conftest import running_digests, write_catalog

pytestmark = pytest.mark.integration


def digest(ref):
    return ref.rsplit("@", 1)[1]


@pytest.fixture
def deployer(shipway, service_name, releases, tmp_path):
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".",
                            extra="")
    args = ("--catalog", catalog, "--service", service_name)

    def deploy(name, build, *extra, check=0):
        return shipway("deploy", *args, "--image", releases[name], *extra,
                       env={"BUILD_NUMBER": build, "GIT_COMMIT": f"{build:0>7}" + "c" * 33},
                       check=check)
    deploy.args = args
    return deploy


def test_rollback_twice_goes_two_releases_back_never_forward(
        shipway, deployer, releases, service_name, docker_client):
    for name, build in (("v1", "1"), ("v2", "2"), ("v3", "3")):
        deployer(name, build)
    listed = shipway.json("releases", *deployer.args)
    assert [(r["seq"], r["running"]) for r in listed] == [(3, True), (2, False), (1, False)]
    assert listed[0]["digest"] == digest(releases["v3"]) and listed[0]["build_number"] == "3"

    first = shipway.json("rollback", *deployer.args)
    assert first["image"] == releases["v2"] and first["release"]["seq"] == 2
    assert running_digests(docker_client, service_name) == [digest(releases["v2"])] * 2
    second = shipway.json("rollback", *deployer.args)
    assert second["image"] == releases["v1"] and second["release"]["seq"] == 1
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])] * 2
    version = docker_client.api.inspect_service(service_name)["Version"]["Index"]
    third = shipway("rollback", *deployer.args, check=1)
    assert "no release older than #1" in third.stderr and "nothing was changed" in third.stderr
    assert docker_client.api.inspect_service(service_name)["Version"]["Index"] == version


def test_rollback_after_an_automatic_rollback(shipway, deployer, releases, service_name,
                                              docker_client):
    deployer("v1", "1")
    deployer("v2", "2")
    deployer("broken", "3", check=1)               # swarm rolls back to v2 by itself
    service = docker_client.api.inspect_service(service_name)
    assert "PreviousSpec" not in service             # what the docker CLI's --rollback needs
    assert [r["seq"] for r in shipway.json("releases", *deployer.args)] == [2, 1]
    back = shipway.json("rollback", *deployer.args)
    assert back["image"] == releases["v1"]
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])] * 2


def test_rollback_after_the_service_was_created_anew(shipway, deployer, releases, service_name,
                                                     docker_client):
    deployer("v1", "1")
    deployer("v2", "2")
    docker_client.services.get(service_name).remove()   # by hand, not by shipway
    deployer("v2", "2")                                  # created again: no swarm history
    back = shipway.json("rollback", *deployer.args)
    assert back["image"] == releases["v1"]
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])] * 2


def test_rollback_to_restores_the_release_spec(shipway, deployer, releases, service_name,
                                               docker_client):
    deployer("v1", "1", "--replicas", "1", "--env", "COLOUR=blue")
    deployer("v2", "2", "--replicas", "2", "--env", "COLOUR=green")
    deployer("v3", "3", "--replicas", "2")
    back = shipway.json("rollback", *deployer.args, "--to", "1")   # by build number
    assert back["image"] == releases["v1"]
    spec = docker_client.api.inspect_service(service_name)["Spec"]
    assert spec["Mode"]["Replicated"]["Replicas"] == 1
    assert spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["COLOUR=blue"]
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])]
    by_digest = shipway.json("rollback", *deployer.args, "--to", digest(releases["v3"])[:19])
    assert by_digest["image"] == releases["v3"]
    unknown = shipway("rollback", *deployer.args, "--to", "999", check=2)
    assert "no release matches '999'" in unknown.stderr


def test_history_is_bounded_and_removed_with_the_service(shipway, deployer, releases,
                                                         service_name, docker_client, tmp_path):
    for build, name in enumerate(("v1", "v2", "v3", "v1", "v2"), start=1):
        deployer(name, str(build), "--keep-releases", "3")
    assert [r["seq"] for r in shipway.json("releases", *deployer.args)] == [5, 4, 3]
    shipway("remove", *deployer.args, check=0)
    assert not docker_client.services.list(filters={"name": service_name})
    assert not docker_client.api.configs(
        filters={"label": f"shipway.release.service={service_name}"})


def test_a_service_removed_by_hand_numbers_its_next_release_on(shipway, deployer, releases,
                                                              service_name, docker_client):
    """`docker service rm` leaves the history: the service created again records its
    release after the newest record (5 records: as many numbers as a deploy tries)."""
    for build in "12345":
        deployer("v1", build)   # a new build number: a new release, no new tasks
    docker_client.services.get(service_name).remove()
    again = deployer("v2", "6")
    assert "release #6 recorded" in again.stderr + again.stdout
    listed = shipway.json("releases", *deployer.args)
    assert [(r["seq"], r["running"]) for r in listed] == \
        [(6, True), (5, False), (4, False), (3, False), (2, False), (1, False)]
    assert listed[0]["digest"] == digest(releases["v2"]) and listed[0]["build_number"] == "6"


def test_release_records_removed_by_hand(shipway, deployer, releases, service_name,
                                         docker_client):
    """With the records gone, the running spec names a release no record has: a rollback
    goes to swarm's previous spec, and the next deploy records its release as #1."""
    deployer("v1", "1")
    deployer("v2", "2")
    for config in docker_client.api.configs(
            filters={"label": f"shipway.release.service={service_name}"}):
        docker_client.api.remove_config(config["ID"])
    assert shipway.json("releases", *deployer.args) == []
    back = shipway.json("rollback", *deployer.args)
    assert back["image"] == releases["v1"] and back["release"] is None
    assert running_digests(docker_client, service_name) == [digest(releases["v1"])] * 2
    deployer("v3", "3")
    listed = shipway.json("releases", *deployer.args)
    assert [(r["seq"], r["running"], r["build_number"]) for r in listed] == [(1, True, "3")]
    labels = docker_client.api.inspect_service(service_name)["Spec"]["Labels"]
    assert labels["shipway.release"] == listed[0]["id"]
