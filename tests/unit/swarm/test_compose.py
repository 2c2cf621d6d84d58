"""Stack-file keys: conversion to Engine ServiceSpec fields, from a stack file with every key.

tests/fixtures/compose/full/expected.json holds the fields and implied values the conversion
gives for docker-stack.yml; tests/integration/test_stack_parity.py shows on the lab that they
make the service `docker stack deploy` makes. Paths in it are lists of keys, `<dir>` the
fixture's directory; tests/fixtures/compose/regenerate.py rewrites it.
"""
import json
import os

import pytest

from pipeline import catalog
from pipeline.swarm import compose
from tests.support.catalogs import ENVIRON, FIXTURE, SERVICES, load_fixture

NETWORK_IDS = {"front": "net-id-1"}
REFS = {"secrets": {"ext_secret": {"Name": "ext-secret", "ID": "sec-id-1"},
                    "file_secret": {"Name": "web_file_secret_0a1b2c3d", "ID": "sec-id-2"}},
        "configs": {"ext_config": {"Name": "ext-config", "ID": "cfg-id-1"},
                    "file_config": {"Name": "web_file_config_4e5f6a7b", "ID": "cfg-id-2"}}}
PLATFORMS = [{"Architecture": "amd64", "OS": "linux"}]


def convert_fixture(service, **entry):
    settings = load_fixture(service, **entry)
    return compose.convert(settings["service"], name=f"stack_{service}", alias=service,
                           network_ids=NETWORK_IDS, secret_refs=REFS["secrets"],
                           config_refs=REFS["configs"], base_dir=settings["base_dir"],
                           definitions=settings["definitions"], environ=ENVIRON,
                           platforms=PLATFORMS)


def expected(service):
    with open(os.path.join(FIXTURE, "expected.json"), encoding="utf-8") as handle:
        text = handle.read().replace("<dir>", FIXTURE)
    doc = json.loads(text)[service]
    return ({tuple(p): v for p, v in doc["fields"]}, {tuple(p): v for p, v in doc["implied"]})


@pytest.mark.parametrize("service", SERVICES)
def test_the_stack_file_converts_to_the_recorded_fields(service):
    conversion = convert_fixture(service)
    fields, implied = expected(service)
    assert conversion.fields == fields
    assert conversion.implied == implied


def convert_entry(entry, environ=None, **definitions):
    """Conversion of one catalog entry (compose keys next to shipway's)."""
    data = {"services": {"web": {"image": "reg/web", **entry}}, **definitions}
    settings = catalog.from_data(data, path="/srv/ops/catalog.yml").service("web")
    refs = {kind: {name: {"Name": f"web_{name}_abc", "ID": f"id-{name}"}
                   for name in settings["definitions"][kind]} for kind in ("secrets", "configs")}
    ids = {key: f"id-{net}" for key, net in
           compose.network_names(settings["service"], settings["definitions"]).items()}
    return compose.convert(settings["service"], name="web", alias="web", network_ids=ids,
                           secret_refs=refs["secrets"], config_refs=refs["configs"],
                           base_dir=settings["base_dir"], definitions=settings["definitions"],
                           environ=environ or {})


CS = ("TaskTemplate", "ContainerSpec")


@pytest.mark.parametrize("entry, fields, implied", [
    # as fine-grained as the keys: one policy key gives one field (and what stack deploy adds)
    ({"deploy": {"update_config": {"order": "stop-first"}}},
     {("UpdateConfig", "Order"): "stop-first"}, {("UpdateConfig", "Parallelism"): 1}),
    ({"deploy": {"rollback_config": {"parallelism": 3}}},
     {("RollbackConfig", "Parallelism"): 3}, {}),
    ({"deploy": {"labels": ["team=x", "empty"]}},
     {("Labels", "team"): "x", ("Labels", "empty"): ""}, {}),
    ({"labels": {"a.b": 1}}, {CS + ("Labels", "a.b"): "1"}, {}),
    ({"deploy": {"replicas": 4}}, {("Mode", "Replicated", "Replicas"): 4}, {}),
    # the mode alone sets no replica count: an adopted service keeps its own (mode: asked_mode)
    ({"deploy": {"mode": "replicated"}}, {}, {}),
    ({"deploy": {"mode": "replicated", "replicas": 2}}, {("Mode", "Replicated", "Replicas"): 2},
     {}),
    ({"deploy": {"mode": "global"}}, {("Mode", "Global"): {}}, {}),
    # jobs as stack deploy converts them: replicas is TotalCompletions and MaxConcurrent
    ({"deploy": {"mode": "replicated-job", "replicas": 3}},
     {("Mode", "ReplicatedJob", "MaxConcurrent"): 3,
      ("Mode", "ReplicatedJob", "TotalCompletions"): 3}, {}),
    ({"deploy": {"mode": "global-job"}}, {("Mode", "GlobalJob"): {}}, {}),
    ({"command": "serve --port '80 80'"}, {CS + ("Args",): ["serve", "--port", "80 80"]}, {}),
    ({"entrypoint": ["/bin/app"]}, {CS + ("Command",): ["/bin/app"]}, {}),
    ({"environment": ["B=2", "A=1", "C"]}, {CS + ("Env",): ["A=1", "B=2", "C"]}, {}),
    ({"environment": {"A": None, "B": "", "C": None}}, {CS + ("Env",): ["A=from env", "B=", "C"]},
     {}),
    ({"healthcheck": {"test": "curl -f localhost"}},
     {CS + ("Healthcheck", "Test"): ["CMD-SHELL", "curl -f localhost"]}, {}),
    ({"healthcheck": {"interval": "1m30s"}}, {CS + ("Healthcheck", "Interval"): 90 * 10 ** 9}, {}),
    ({"healthcheck": {"disable": True}}, {CS + ("Healthcheck",): {"Test": ["NONE"]}}, {}),
    ({"stop_grace_period": "500ms"}, {CS + ("StopGracePeriod",): 500_000_000}, {}),
    ({"extra_hosts": {"db": "10.0.0.1"}}, {CS + ("Hosts",): ["10.0.0.1 db"]}, {}),
    ({"dns": "1.1.1.1"}, {CS + ("DNSConfig", "Nameservers"): ["1.1.1.1"]}, {}),
    ({"cap_add": ["ALL", "net_admin"]}, {CS + ("CapabilityAdd",): ["ALL"]}, {}),
    ({"cap_drop": ["chown", "CAP_KILL"]}, {CS + ("CapabilityDrop",): ["CAP_CHOWN", "CAP_KILL"]},
     {}),
    ({"ulimits": {"nofile": 10}}, {CS + ("Ulimits",): [{"Name": "nofile", "Soft": 10,
                                                          "Hard": 10}]}, {}),
    ({"logging": {"driver": "syslog"}}, {("TaskTemplate", "LogDriver", "Name"): "syslog"}, {}),
    ({"logging": {"options": {"max-size": "1m"}}},
     {("TaskTemplate", "LogDriver", "Options"): {"max-size": "1m"}}, {}),
    ({"tmpfs": ["/run", "/tmp:size=1m"]}, {CS + ("Mounts",): [
        {"Type": "tmpfs", "Target": "/run"},
        {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1048576}}]}, {}),
    ({"volumes": ["./data:/data:ro", "cache:/cache", "/anon"]}, {CS + ("Mounts",): [
        {"Type": "bind", "Source": "/srv/ops/data", "Target": "/data", "ReadOnly": True},
        {"Type": "volume", "Source": "cache", "Target": "/cache", "VolumeOptions": {}},
        {"Type": "volume", "Target": "/anon"}]}, {}),
    ({"ports": ["80:8080/udp", "9000-9001:90-91"]}, {("EndpointSpec", "Ports"): [
        {"Protocol": "udp", "TargetPort": 8080, "PublishedPort": 80, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 90, "PublishedPort": 9000, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 91, "PublishedPort": 9001, "PublishMode": "ingress"}]},
     {}),
    ({"ports": [{"target": 80, "published": 81, "mode": "host"}]}, {("EndpointSpec", "Ports"): [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 81, "PublishMode": "host"}]}, {}),
    ({"networks": ["b-net", "a-net", "host"]}, {("TaskTemplate", "Networks"): [
        {"Target": "id-a-net", "Aliases": ["web"]}, {"Target": "id-b-net", "Aliases": ["web"]},
        {"Target": "id-host"}]}, {}),
    ({"deploy": {"resources": {"limits": {"cpus": "1.5"}}}},
     {("TaskTemplate", "Resources", "Limits", "NanoCPUs"): 1_500_000_000}, {}),
    ({"deploy": {"resources": {"reservations": {"memory": "1.5g"}}}},
     {("TaskTemplate", "Resources", "Reservations", "MemoryBytes"): 1610612736}, {}),
    ({"deploy": {"placement": {"max_replicas_per_node": 1}}},
     {("TaskTemplate", "Placement", "MaxReplicas"): 1}, {}),
    # as docker's loader writes them: an absolute bind source as written (the trailing slash
    # kept), a Windows drive path, a named pipe; `VIP` in lower case; isolation
    ({"volumes": ["/var/lib/docker/:/var/lib/docker:ro", "C:\\data:/data",
                  {"type": "npipe", "source": "\\\\.\\pipe\\docker_engine",
                   "target": "\\\\.\\pipe\\docker_engine"}, "./x/../y/:/y"]},
     {CS + ("Mounts",): [
         {"Type": "bind", "Source": "/var/lib/docker/", "Target": "/var/lib/docker",
          "ReadOnly": True},
         {"Type": "bind", "Source": "C:\\data", "Target": "/data"},
         {"Type": "npipe", "Source": "\\\\.\\pipe\\docker_engine",
          "Target": "\\\\.\\pipe\\docker_engine"},
         {"Type": "bind", "Source": "/srv/ops/y", "Target": "/y"}]}, {}),
    ({"deploy": {"endpoint_mode": "VIP"}}, {("EndpointSpec", "Mode"): "vip"}, {}),
    ({"isolation": "default"}, {CS + ("Isolation",): "default"}, {}),
    ({"healthcheck": {"retries": 3.7}}, {CS + ("Healthcheck", "Retries"): 3}, {}),
    ({"deploy": {"rollback_config": {"failure_action": "rollback"}}},
     {("RollbackConfig", "FailureAction"): "rollback"}, {("RollbackConfig", "Parallelism"): 1}),
])
def test_each_key_sets_only_its_fields(entry, fields, implied):
    conversion = convert_entry(entry, environ={"A": "from env"})
    assert conversion.mode == compose.asked_mode(entry)
    assert conversion.fields == fields
    extra = {k: v for k, v in conversion.implied.items()
             if k != ("Name",) and v != {}}   # the empty parents stack deploy always sends
    assert extra == implied


def test_a_replicated_job_without_replicas_is_one_only_when_it_is_created():
    """No field (an adopted job keeps its completions), but a new one is made a job: with
    the engine's 1 and 1, as stack deploy's nil replicas gives it."""
    conversion = convert_entry({"deploy": {"mode": "replicated-job"}})
    assert conversion.mode == "replicated-job"
    assert not [path for path in conversion.fields if path[0] == "Mode"]
    assert conversion.implied[("Mode", "ReplicatedJob")] == {}
    assert conversion.create_spec()["Mode"] == {"ReplicatedJob": {}}


def test_secrets_configs_and_their_defaults():
    conversion = convert_entry(
        {"secrets": ["pw", {"source": "tls", "target": "/etc/tls.key", "mode": 0o400}],
         "configs": [{"source": "conf", "uid": "33"}]},
        secrets={"pw": {"environment": "DB_PASSWORD"}, "tls": {"file": "tls.key"}},
        configs={"conf": {"external": True, "name": "shared_conf"}})
    assert conversion.fields[CS + ("Secrets",)] == [
        {"File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 0o444},
         "SecretID": "id-pw", "SecretName": "web_pw_abc"},
        {"File": {"Name": "/etc/tls.key", "UID": "0", "GID": "0", "Mode": 0o400},
         "SecretID": "id-tls", "SecretName": "web_tls_abc"}]
    assert conversion.fields[CS + ("Configs",)] == [
        {"File": {"Name": "conf", "UID": "33", "GID": "0", "Mode": 0o444},
         "ConfigID": "id-conf", "ConfigName": "web_conf_abc"}]


def test_named_volumes_in_a_stack_are_its_own_and_labelled():
    entry = {"volumes": ["data:/data", "ext:/ext", "named:/named"]}
    volumes = {"data": {"labels": {"backup": "daily"}, "driver": "local"},
               "ext": {"external": True}, "named": {"name": "shared-named"}}
    settings = catalog.from_data({"services": {"web": {"image": "reg/web", **entry}},
                                  "volumes": volumes}, path="/srv/ops/c.yml").service("web")
    mounts = compose.mounts(settings["service"], "/srv/ops", settings["definitions"]["volumes"],
                            {}, namespace="shop")
    label = {"com.docker.stack.namespace": "shop"}
    assert mounts == [
        {"Type": "volume", "Source": "shop_data", "Target": "/data",
         "VolumeOptions": {"Labels": {"backup": "daily", **label},
                           "DriverConfig": {"Name": "local"}}},
        {"Type": "volume", "Source": "ext", "Target": "/ext", "VolumeOptions": {}},
        {"Type": "volume", "Source": "shared-named", "Target": "/named",
         "VolumeOptions": {"Labels": label}}]
    unscoped = compose.mounts(settings["service"], "/srv/ops",
                              settings["definitions"]["volumes"], {})
    assert [m["Source"] for m in unscoped] == ["data", "ext", "shared-named"]


def test_create_spec_is_implied_then_fields():
    conversion = convert_entry({"deploy": {"update_config": {"order": "stop-first"}}})
    spec = conversion.create_spec()
    assert spec["Name"] == "web"
    assert spec["UpdateConfig"] == {"Parallelism": 1, "Order": "stop-first"}


def test_the_network_alias_is_the_short_name_stack_deploy_gives():
    from pipeline.swarm.deploy_plan import network_alias
    from pipeline.swarm.request import DeployRequest

    def service(labels):
        return {"Spec": {"Labels": labels}}

    def alias(name, current, compose_service=None):
        return network_alias(DeployRequest(name, "img", {}, compose_service=compose_service),
                             current)
    stack = service({"com.docker.stack.namespace": "shop"})
    assert alias("shop_web", stack) == "web"          # adopted stack service
    assert alias("shop_web", None) == "shop_web"      # a new one: its name
    assert alias("shop_web", service({})) == "shop_web"
    assert alias("shop_", stack) == "shop_"
    assert alias("other_web", stack) == "other_web"
    assert alias("shop_web", stack, "api") == "api"   # the stack file's service
