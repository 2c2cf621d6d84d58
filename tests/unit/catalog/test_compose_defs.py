"""Top-level definitions (secrets, configs, networks, volumes) and the checks across a
service's keys (pipeline/catalog/compose_defs.py)."""
import pytest

from pipeline.catalog import compose_defs
from pipeline.errors import EXIT_USAGE, CatalogError
from tests.support.catalogs import entry_loader


@pytest.mark.parametrize("top, words", [
    ("networks: {front: {external: false}}\n", "existing networks only"),
    ("secrets: {pw: {file: a, environment: B}}\n", "exactly one of file, environment"),
    ("secrets: {pw: {}}\n", "exactly one of"),
    ("configs: {c: {environment: X}}\n", "unknown key"),
    ("secrets: {pw: {external: maybe}}\n", "true or false"),
    ("volumes: {v: {driver: [x]}}\n", "must be a string"),
    ("secrets: [pw]\n", "mapping of names"),
    # stack-file keys shipway does not carry: refused with what to do instead
    ("secrets: {pw: {file: a, driver: vault}}\n", "key 'secrets.pw.driver': shipway does not "
     "make secrets through a secret driver: give the content with file or environment, or "
     "create the secret yourself (docker secret create) and declare it external: true"),
    ("secrets: {pw: {file: a, driver_opts: {a: b}}}\n", "key 'secrets.pw.driver_opts'"),
    ("configs: {c: {file: a, driver: vault}}\n", "unknown key"),   # not a config key at all
    # a catalog's networks are existing ones: made ones are a stack file's
    ("networks: {front: {driver: overlay}}\n", "key 'networks.front.driver': unknown key"),
])
def test_bad_definitions_name_the_key(tmp_path, top, words):
    _, loading = entry_loader(tmp_path, "{image: r/x}", top=top)
    with pytest.raises(CatalogError) as info:
        loading()
    assert words in str(info.value)
    assert "\n" not in str(info.value) and info.value.exit_code == EXIT_USAGE


def test_ingress_ports_are_checked_against_the_endpoint_the_service_will_have():
    def fail(key, message):
        raise ValueError(f"{key}: {message}")

    ingress = {"ports": [{"target": 80, "published": 80, "protocol": "tcp", "mode": "ingress"}]}
    with pytest.raises(ValueError, match=r"^ports\[0\]\.mode: .* dnsrr, which it has: publish"):
        compose_defs.check_endpoint(ingress, fail, "dnsrr", ", which it has")
    compose_defs.check_endpoint(ingress, fail, "vip")                      # the running one
    compose_defs.check_endpoint({**ingress, "deploy": {"endpoint_mode": "vip"}}, fail, "dnsrr")
    host = {"ports": [{**ingress["ports"][0], "mode": "host"}]}
    compose_defs.check_endpoint(host, fail, "dnsrr")
    # dnsrr asked for a service that publishes an ingress port (the Engine omits the mode)
    dnsrr = {"deploy": {"endpoint_mode": "dnsrr"}}
    running = [{"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 18080}]
    with pytest.raises(ValueError, match=r"^deploy\.endpoint_mode: dnsrr .* port 18080 "):
        compose_defs.check_endpoint(dnsrr, fail, "vip", ports=running)
    compose_defs.check_endpoint(dnsrr, fail, "vip", ports=[{**running[0], "PublishMode": "host"}])
    compose_defs.check_endpoint({**dnsrr, **host}, fail, "vip", ports=running)   # ports replaced


@pytest.mark.parametrize("deploy, key, words", [
    ("{mode: replicated-job, update_config: {parallelism: 2}}", "deploy.update_config",
     "is not supported for a replicated-job service (a job is run again, not rolled out)"),
    ("{mode: global-job, rollback_config: {order: start-first}}", "deploy.rollback_config",
     "is not supported for a global-job service"),
    ("{mode: global-job, replicas: 2}", "deploy.replicas",
     "can only be used with deploy.mode replicated or replicated-job"),
    ("{mode: global-job, placement: {max_replicas_per_node: 1}}",
     "deploy.placement.max_replicas_per_node", "replicated or replicated-job"),
    ("{mode: replicated-job, analysis: {prometheus: 'http://p:9090', checks: [{name: e, "
     "query: up, max: 1}]}}", "deploy.analysis",
     "a replicated-job service serves no traffic to judge: remove it"),
])
def test_what_a_job_cannot_have_is_refused_naming_the_key(tmp_path, deploy, key, words):
    """As the engine and the docker CLI refuse them: one line, exit 2."""
    _, loading = entry_loader(tmp_path, f"{{image: r/x, deploy: {deploy}}}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert f"key '{key}'" in str(info.value) and words in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


def test_the_job_modes_are_modes_of_the_catalog(tmp_path):
    for mode in ("replicated-job", "global-job"):
        _, loading = entry_loader(tmp_path, f"{{image: r/x, deploy: {{mode: {mode}}}}}")
        assert loading().service("web")["service"]["deploy"]["mode"] == mode


def test_a_stack_files_definitions_take_every_key_stack_deploy_takes(tmp_path):
    (tmp_path / "c.txt").write_text("x")
    raw = {"networks": {"front": None, "back": {"driver": "overlay", "attachable": True,
                                                "internal": True, "labels": ["a=b"],
                                                "driver_opts": {"mtu": 1400},
                                                "ipam": {"driver": "default",
                                                         "config": [{"subnet": "10.9.0.0/24"}]},
                                                "x-note": "skipped"},
                        "proxy": {"external": {"name": "traefik"}}},
           "volumes": {"data": {"x-note": 1}, "old": {"external": {"name": "legacy"}}},
           "configs": {"ds": {"file": "c.txt", "template_driver": "golang", "x-a": 1}},
           "secrets": {"pw": {"file": "c.txt", "template_driver": "golang"}}}

    def fail(key, message):
        raise AssertionError(f"{key}: {message}")
    defined = compose_defs.definitions(raw, fail, str(tmp_path), stack_file=True)
    assert defined["networks"] == {
        "front": {"external": False},
        "back": {"external": False, "driver": "overlay", "attachable": True, "internal": True,
                 "labels": {"a": "b"}, "driver_opts": {"mtu": "1400"},
                 "ipam": {"driver": "default", "config": [{"subnet": "10.9.0.0/24"}]}},
        "proxy": {"external": True, "name": "traefik"}}
    assert defined["volumes"] == {"data": {}, "old": {"external": True, "name": "legacy"}}
    assert defined["configs"]["ds"]["template_driver"] == "golang"
    assert defined["secrets"]["pw"]["template_driver"] == "golang"
