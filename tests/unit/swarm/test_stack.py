"""The stack a stack file's service is deployed in, and what stack deploy makes in it
(pipeline/swarm/stack.py), planned from recorded specs: tests/fixtures/deploy/stack-service.json
is `mon_grafana` as `docker stack deploy` made it from stack-service.yml (docker 20.10, lab)."""
import json
import os
import shutil

import pytest

from pipeline import catalog
from pipeline.context import BuildInfo
from pipeline.errors import CatalogError, UsageError
from pipeline.swarm import deploy_plan, stack
from pipeline.swarm import spec as specs
from pipeline.swarm.deploy_read import Reading
from pipeline.swarm.plan import Action
from pipeline.swarm.request import DeployRequest
from pipeline.swarm.writes import CreateNetwork, CreateService, UpdateService

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "deploy")
IMAGE = "127.0.0.1:5000/fixture/hello:2@sha256:" + "a" * 64
NETWORKS = {"mon_net": "ux07gvrjvng0dvxafqfults5v", "mon_default": "ucn222r30st8lzlk1b6opc93c"}
CS = ("TaskTemplate", "ContainerSpec")


def recorded():
    with open(os.path.join(FIXTURES, "stack-service.json"), encoding="utf-8") as handle:
        service = json.load(handle)
    service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] = IMAGE   # as --resolve-image
    return service


def request_for(tmp_path, name="mon_grafana", stack_name=None, file="stack-service.yml",
                service="grafana"):
    shutil.copy(os.path.join(FIXTURES, file), tmp_path / "docker-stack.yml")
    ref = {"file": "docker-stack.yml", "service": service,
           **({"stack": stack_name} if stack_name else {})}
    settings = catalog.from_data({"services": {name: {"compose": ref}}},
                                 path=str(tmp_path / "c.yml")).service(name)
    return DeployRequest(name, IMAGE, settings["service"], catalog_keys=settings["service"],
                         catalog="c.yml", source_catalog=False, compose_service=service,
                         stack=settings["stack"], definitions=settings["definitions"],
                         base_dir=settings["base_dir"], environ={}, build=BuildInfo())


def labels():
    return specs.deploy_labels(IMAGE, specs.digest_of(IMAGE), BuildInfo(), "r1")


def plan(request, current, networks, space):
    return deploy_plan.plan_request(request, Reading(current, [], networks, space), labels())


# ------------------------------------------------------------------------------ the namespace

def test_the_namespace_is_the_services_label_else_the_one_asked_for():
    current = recorded()
    assert stack.namespace("mon_grafana", current, None) == "mon"
    assert stack.namespace("mon_grafana", current, "mon") == "mon"
    assert stack.namespace("web", None, "shop") == "shop"
    assert stack.namespace("web", None, None) is None
    unlabelled = {"Spec": {"Labels": {"team": "a"}}}
    assert stack.namespace("web", unlabelled, "shop") == "shop"
    with pytest.raises(UsageError) as info:
        stack.namespace("mon_grafana", current, "shop")
    assert "belongs to stack mon" in info.value.message
    assert info.value.context["key"] == "compose.stack"


@pytest.mark.parametrize("space, key, definition, name", [
    ("shop", "db-data", {}, "shop_db-data"),
    ("shop", "db-data", {"name": "pg-data"}, "pg-data"),        # its own name, as written
    ("shop", "db-data", {"external": True}, "db-data"),
    (None, "db-data", {}, "db-data"),                             # no stack: the file's name
])
def test_names_in_a_stack(space, key, definition, name):
    assert stack.scoped(space, key, definition) == name


def test_the_default_network_is_the_stacks_or_none():
    service = {"networks": {"default": {}}}
    assert stack.network_names(service, {}, "shop") == {"default": "shop_default"}
    assert stack.network_names(service, {}, None) == {}
    defined = {"networks": {"default": {"external": True, "name": "proxy"}}}
    assert stack.network_names(service, defined, None) == {"default": "proxy"}
    assert stack.network_names({"networks": {"front": {}}}, {}, "shop") == {"front": "front"}


def test_a_network_is_created_as_stack_deploy_creates_it():
    assert stack.network_spec(None, "shop") == {
        "Driver": "overlay", "Options": {}, "Labels": {stack.NAMESPACE_LABEL: "shop"},
        "Internal": False, "Attachable": False}
    definition = {"driver": "overlay", "attachable": True, "internal": True,
                  "driver_opts": {"encrypted": ""}, "labels": {"purpose": "ui"},
                  "ipam": {"driver": "default", "config": [{"subnet": "10.9.0.0/24"}]}}
    assert stack.network_spec(definition, "shop") == {
        "Driver": "overlay", "Options": {"encrypted": ""}, "Internal": True, "Attachable": True,
        "Labels": {"purpose": "ui", stack.NAMESPACE_LABEL: "shop"},
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24"}]}}
    assert stack.describe(stack.network_spec(definition, "shop")) == (
        "driver overlay, internal, attachable, options {'encrypted': ''}, labels "
        "{'com.docker.stack.namespace': 'shop', 'purpose': 'ui'}, ipam {'Driver': 'default', "
        "'Config': [{'Subnet': '10.9.0.0/24'}]}")


# ------------------------------------------------------------------------ adopting, creating

def test_adopting_a_stack_service_with_its_file_changes_only_shipways_labels(tmp_path):
    """mon_grafana as stack deploy made it, planned from the same file: its volume is still
    mon_grafana (labelled), the bind keeps its slash, its networks and alias are the stack's:
    the task template does not change."""
    request = request_for(tmp_path)
    current = recorded()
    result = plan(request, current, NETWORKS, "mon")
    assert result.action is Action.UPDATE
    assert [type(w) for w in result.writes] == [UpdateService]
    assert {c.path[0] for c in result.changes} == {"Labels"}
    assert all(c.path[1].startswith("shipway.") for c in result.changes)
    assert result.spec["TaskTemplate"] == current["Spec"]["TaskTemplate"]
    assert result.remarks == []


def test_a_new_service_in_a_stack_gets_its_networks_volumes_and_labels(tmp_path):
    request = request_for(tmp_path, name="shop_grafana", stack_name="shop")
    result = plan(request, None, {"shop_net": None, "shop_default": None}, "shop")
    assert [type(w) for w in result.writes] == [CreateNetwork, CreateNetwork, CreateService]
    made = {w.name: w.spec for w in result.writes[:2]}
    assert made == {"shop_default": stack.network_spec(None, "shop"),
                    "shop_net": stack.network_spec({"driver": "overlay", "attachable": True},
                                                   "shop")}
    spec = result.spec
    # a network made in this deploy is named until it has an id (the engine takes either)
    assert spec["TaskTemplate"]["Networks"] == [
        {"Target": "shop_default", "Aliases": ["grafana"]},
        {"Target": "shop_net", "Aliases": ["grafana"]}]
    [volume, bind] = spec["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert volume == {"Type": "volume", "Source": "shop_grafana", "Target": "/var/lib/grafana",
                      "VolumeOptions": {"Labels": {stack.NAMESPACE_LABEL: "shop"}}}
    assert bind["Source"] == "/var/lib/docker/"
    assert spec["Labels"][stack.NAMESPACE_LABEL] == "shop"
    assert spec["TaskTemplate"]["ContainerSpec"]["Labels"] == {stack.NAMESPACE_LABEL: "shop"}
    lines = result.lines("shop_grafana", IMAGE)
    assert lines[:2] == [f"create network shop_default: {stack.describe(made['shop_default'])}",
                         f"create network shop_net: {stack.describe(made['shop_net'])}"]
    assert [n["name"] for n in result.summary()["networks"]] == ["shop_default", "shop_net"]


def test_a_network_that_exists_is_used_as_it_is(tmp_path):
    request = request_for(tmp_path, name="shop_grafana", stack_name="shop")
    result = plan(request, None, {"shop_net": "nid", "shop_default": "did"}, "shop")
    assert [type(w) for w in result.writes] == [CreateService]
    assert [n["Target"] for n in result.spec["TaskTemplate"]["Networks"]] == ["did", "nid"]


def test_a_service_in_no_stack_keeps_the_files_names_and_says_so(tmp_path):
    request = request_for(tmp_path, name="grafana")
    result = plan(request, None, {"net": None}, None)
    assert [type(w) for w in result.writes] == [CreateNetwork, CreateService]
    assert result.writes[0].name == "net"
    assert stack.NAMESPACE_LABEL not in result.writes[0].spec["Labels"]
    assert result.spec["TaskTemplate"]["Networks"] == [{"Target": "net", "Aliases": ["grafana"]}]
    mount = result.spec["TaskTemplate"]["ContainerSpec"]["Mounts"][0]
    assert mount["Source"] == "grafana" and "Labels" not in mount["VolumeOptions"]
    assert stack.NAMESPACE_LABEL not in result.spec.get("Labels", {})
    note = ("service grafana is in no stack: volume grafana, network net keep the file's names "
            "(docker stack deploy: <stack>_NAME); it joins no default network (docker stack "
            "deploy: <stack>_default); set compose.stack: NAME to deploy it into a stack")
    assert result.remarks == [note]
    assert result.lines("grafana", IMAGE)[0] == note


def test_another_stack_than_the_services_is_refused_naming_the_catalog_key(tmp_path):
    request = request_for(tmp_path, stack_name="shop")
    with pytest.raises(CatalogError) as info:
        with deploy_plan.catalog_keys(request):
            stack.namespace(request.name, recorded(), request.stack)
    assert "key 'compose.stack'" in str(info.value)
    assert "belongs to stack mon" in str(info.value)


def test_a_missing_external_network_is_still_refused(tmp_path):
    (tmp_path / "docker-stack.yml").write_text(
        'version: "3.8"\nservices:\n  web: {image: r/x:1, networks: [proxy]}\n'
        'networks:\n  proxy: {external: true}\n')
    settings = catalog.from_data({"services": {"shop_web": {"compose": {
        "file": "docker-stack.yml", "service": "web", "stack": "shop"}}}},
        path=str(tmp_path / "c.yml")).service("shop_web")
    request = DeployRequest("shop_web", IMAGE, settings["service"], compose_service="web",
                            stack="shop", definitions=settings["definitions"],
                            source_catalog=False, base_dir=str(tmp_path), build=BuildInfo())
    with pytest.raises(UsageError, match="network 'proxy' does not exist"):
        plan(request, None, {"proxy": None}, "shop")
