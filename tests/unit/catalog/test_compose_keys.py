"""Stack-file keys in a catalog entry (pipeline/catalog/compose_keys.py), and shipway's own
keys next to them: a bad value is one line naming the file, the service and the key."""
import pytest

from pipeline.catalog import compose_keys
from pipeline.errors import EXIT_USAGE, CatalogError
from tests.support.catalogs import entry_loader


@pytest.mark.parametrize("entry, key, words", [
    ("{command: 'a \"b'}", "command", "cannot be split"),
    ("{entrypoint: {a: b}}", "entrypoint", "string or a list"),
    ("{environment: 3}", "environment", "mapping or a list"),
    ("{environment: [=x]}", "environment", "no name"),
    ("{env_file: [1, {a: b}]}", "env_file", "not a string"),
    ("{labels: {a: [1]}}", "labels", "must be a string"),
    ("{healthcheck: {test: [RUN, x]}}", "healthcheck.test", "NONE, CMD or CMD-SHELL"),
    ("{healthcheck: {interval: soon}}", "healthcheck.interval", "not a duration"),
    ("{healthcheck: {retries: -1}}", "healthcheck.retries", "0 or more"),
    ("{healthcheck: {start_period: 1y}}", "healthcheck.start_period", "not a duration"),
    ("{healthcheck: {disable: yes please}}", "healthcheck.disable", "true or false"),
    ("{healthcheck: {disable: true, test: x}}", "healthcheck.disable", "can't be set"),
    ("{healthcheck: {tests: x}}", "healthcheck.tests", "unknown key"),
    ("{user: [root]}", "user", "must be a string"),
    ("{working_dir: {}}", "working_dir", "must be a string"),
    ("{hostname: null}", "hostname", "has no value"),
    ("{extra_hosts: [nocolon]}", "extra_hosts", "HOST:IP"),
    ("{dns: [{}]}", "dns", "not a string"),
    ("{init: 1}", "init", "true or false"),
    ("{read_only: 'yes'}", "read_only", "true or false"),
    ("{stop_signal: [TERM]}", "stop_signal", "must be a string"),
    ("{stop_grace_period: -1s}", "stop_grace_period", "duration"),
    ("{cap_add: {a: b}}", "cap_add", "string or a list"),
    ("{cap_drop: [[x]]}", "cap_drop", "not a string"),
    ("{sysctls: 7}", "sysctls", "mapping or a list"),
    ("{ulimits: {nofile: {soft: 1}}}", "ulimits.nofile", "both soft and hard"),
    ("{ulimits: {nofile: many}}", "ulimits.nofile", "whole number"),
    ("{ulimits: [nofile]}", "ulimits", "mapping of limit names"),
    ("{logging: {driver: [x]}}", "logging.driver", "must be a string"),
    ("{logging: {options: {max-size: [1]}}}", "logging.options", "must be a string"),
    ("{tmpfs: {a: b}}", "tmpfs", "string or a list"),
    ("{volumes: 'a:b'}", "volumes", "must be a list"),
    ("{volumes: ['db:/x:ro:z']}", "volumes[0]", "[SOURCE:]TARGET"),
    ("{volumes: ['db::/x']}", "volumes[0]", "[SOURCE:]TARGET"),
    ("{volumes: [{type: nfs, target: /x}]}", "volumes[0].type", "one of volume, bind, tmpfs"),
    ("{volumes: [{type: bind, target: /x}]}", "volumes[0].source", "required for a bind"),
    ("{volumes: [{type: volume, source: a}]}", "volumes[0].target", "is required"),
    ("{volumes: [{type: tmpfs, source: a, target: /x}]}", "volumes[0].source", "must be empty"),
    ("{volumes: [{type: bind, source: ./a, target: /x, volume: {nocopy: true}}]}",
     "volumes[0].volume", "incompatible with type bind"),
    ("{volumes: [{type: bind, source: ./a, target: /x, bind: {propagation: up}}]}",
     "volumes[0].bind.propagation", "one of rprivate"),
    ("{volumes: [{type: tmpfs, target: /x, tmpfs: {size: lots}}]}", "volumes[0].tmpfs.size",
     "not a size"),
    ("{secrets: [{target: x}]}", "secrets[0].source", "is required"),
    ("{secrets: [{source: pw, mode: '0400'}]}", "secrets[0].mode", "file mode"),
    ("{secrets: [{source: pw, uid: [1]}]}", "secrets[0].uid", "must be a string"),
    ("{secrets: [nope]}", "secrets[0].source", "not defined"),
    ("{configs: [nope]}", "configs[0].source", "not defined"),
    ("{configs: pw}", "configs", "must be a list"),
    ("{networks: [{a: b}]}", "networks", "network names"),
    ("{networks: {front: {aliases: {a: b}}}}", "networks.front.aliases", "string or a list"),
    ("{networks: {front: {ipv4_address: 10.0.0.1}}}", "networks.front.ipv4_address",
     "unknown key"),
    ("{ports: ['80:abc']}", "ports[0]", "not a port number"),
    ("{ports: ['1-3:1-2']}", "ports[0]", "as long as the target range"),
    ("{ports: ['80:8080/icmp']}", "ports[0]", "tcp, udp or sctp"),
    ("{ports: [{published: 80}]}", "ports[0].target", "is required"),
    ("{ports: [{target: 80, mode: mesh}]}", "ports[0].mode", "one of host, ingress"),
    ("{ports: [{target: 80, protocol: icmp}]}", "ports[0].protocol", "one of tcp"),
    ("{ports: ['80:80'], deploy: {endpoint_mode: dnsrr}}", "ports[0].mode", "mode: host"),
    ("{deploy: {mode: daemon}}", "deploy.mode", "one of replicated, global"),
    ("{deploy: {mode: global, replicas: 2}}", "deploy.replicas", "replicated"),
    ("{deploy: {replicas: -1}}", "deploy.replicas", "0 or more"),
    ("{deploy: {endpoint_mode: rr}}", "deploy.endpoint_mode", "one of vip, dnsrr"),
    ("{deploy: {labels: 3}}", "deploy.labels", "mapping or a list"),
    ("{deploy: {placement: {constraints: 3}}}", "deploy.placement.constraints",
     "string or a list"),
    ("{deploy: {placement: {preferences: [{pack: x}]}}}", "deploy.placement.preferences",
     "spread"),
    ("{deploy: {placement: {max_replicas_per_node: x}}}",
     "deploy.placement.max_replicas_per_node", "whole number"),
    ("{deploy: {resources: {limits: {cpus: lots}}}}", "deploy.resources.limits.cpus",
     "not a number of CPUs"),
    ("{deploy: {resources: {limits: {cpus: '0.0000000001'}}}}", "deploy.resources.limits.cpus",
     "too precise"),
    ("{deploy: {resources: {limits: {memory: 1x}}}}", "deploy.resources.limits.memory",
     "not a size"),
    ("{deploy: {resources: {limits: {pids: -1}}}}", "deploy.resources.limits.pids", "0 or more"),
    ("{deploy: {resources: {reservations: {pids: 1}}}}", "deploy.resources.reservations.pids",
     "pids can only be limited: set deploy.resources.limits.pids"),
    ("{deploy: {restart_policy: {condition: always}}}", "deploy.restart_policy.condition",
     "one of none, on-failure, any"),
    ("{deploy: {restart_policy: {window: x}}}", "deploy.restart_policy.window", "duration"),
    ("{deploy: {update_config: {parallelism: -1}}}", "deploy.update_config.parallelism",
     "0 or more"),
    ("{deploy: {update_config: {max_failure_ratio: 2}}}",
     "deploy.update_config.max_failure_ratio", "from 0 to 1"),
    ("{deploy: {rollback_config: {failure_action: undo}}}",
     "deploy.rollback_config.failure_action", "one of pause, continue, rollback"),
    ("{deploy: {timeout: soon}}", "deploy.timeout", "duration"),
    ("{deploy: {keep_releases: 0}}", "deploy.keep_releases", "1 or more"),
    ("{deploy: {canary: {}}}", "deploy.canary", "unknown key"),
    ("{compose: web.yml}", "compose", "{file: STACK-FILE, service: NAME}"),
    ("{colour: red}", "colour", "unknown key"),
])
def test_a_bad_value_is_one_line_naming_file_service_and_key(tmp_path, entry, key, words):
    path, loading = entry_loader(tmp_path, "{image: r/x, " + entry[1:])
    with pytest.raises(CatalogError) as info:
        loading()
    text = str(info.value)
    assert text.startswith(f"{path}: service 'web': key '{key}': "), text
    assert words in text
    assert "\n" not in text and info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("spec, volume", [
    ("a", {"type": "volume", "target": "a"}),
    ("/data", {"type": "volume", "target": "/data"}),
    ("db:/data:ro,nocopy", {"type": "volume", "source": "db", "target": "/data",
                            "read_only": True, "volume": {"nocopy": True}}),
    ("/var/lib/docker/:/var/lib/docker:ro", {"type": "bind", "source": "/var/lib/docker/",
                                             "target": "/var/lib/docker", "read_only": True}),
    ("~/conf:/conf:rshared,z", {"type": "bind", "source": "~/conf", "target": "/conf",
                                "bind": {"propagation": "rshared"}}),
    ("C:\\data:/data", {"type": "bind", "source": "C:\\data", "target": "/data"}),
    ("\\\\.\\pipe\\x:/p", {"type": "bind", "source": "\\\\.\\pipe\\x", "target": "/p"}),
    # docker's loader takes a one-letter name before a colon for a drive: an anonymous volume
    ("a:/data", {"type": "volume", "target": "a:/data"}),
])
def test_short_volumes_are_read_as_dockers_loader_reads_them(spec, volume):
    assert compose_keys.short_volume(spec) == volume
