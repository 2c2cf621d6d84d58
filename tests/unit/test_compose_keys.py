"""Stack-file keys in a catalog or a stack file: bad values are one line naming file, service
and key; the old catalog keys say where they went; variables interpolate as stack deploy's."""
import io

import pytest

from pipeline import catalog, cli
from pipeline.console import Console
from pipeline.errors import EXIT_USAGE, CatalogError
from pipeline.swarm import compose_file


def load(tmp_path, entry, top=""):
    path = tmp_path / "catalog.yml"
    path.write_text(f"{top}services:\n  web: {entry}\n")
    return str(path), lambda: catalog.load(str(path))


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
    ("{volumes: ['a:b:c:d']}", "volumes[0]", "[SOURCE:]TARGET"),
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
    ("{deploy: {rollback_config: {failure_action: rollback}}}",
     "deploy.rollback_config.failure_action", "one of pause, continue"),
    ("{deploy: {timeout: soon}}", "deploy.timeout", "duration"),
    ("{deploy: {keep_releases: 0}}", "deploy.keep_releases", "1 or more"),
    ("{deploy: {canary: {}}}", "deploy.canary", "unknown key"),
    ("{compose: web.yml}", "compose", "{file: STACK-FILE, service: NAME}"),
    ("{colour: red}", "colour", "unknown key"),
])
def test_a_bad_value_is_one_line_naming_file_service_and_key(tmp_path, entry, key, words):
    path, loading = load(tmp_path, "{image: r/x, " + entry[1:])
    with pytest.raises(CatalogError) as info:
        loading()
    text = str(info.value)
    assert text.startswith(f"{path}: service 'web': key '{key}': "), text
    assert words in text
    assert "\n" not in text and info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("old, new", [
    ("env: {A: b}", "`environment`"), ("networks: [proxy]", "`networks`"),
    ("ports: [{target: 80}]", "`ports`"), ("stop_grace_period: 1s", "`stop_grace_period`"),
    ("update: {order: stop-first}", "`deploy.update_config`"),
    ("rollback: {order: stop-first}", "`deploy.rollback_config`"),
])
def test_old_keys_name_the_new_key(tmp_path, old, new):
    _, loading = load(tmp_path, f"{{image: r/x, deploy: {{{old}}}}}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert f"key 'deploy.{old.split(':')[0]}': is now {new}" in str(info.value)


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
    ("secrets: {pw: {file: a, template_driver: golang}}\n", "templated secrets"),
    ("configs: {c: {file: a, template_driver: golang}}\n", "key 'configs.c.template_driver': "
     "shipway does not make templated configs: give the content with file, or create the "
     "config yourself (docker config create) and declare it external: true"),
    ("configs: {c: {file: a, driver: vault}}\n", "unknown key"),   # not a config key at all
])
def test_bad_definitions_name_the_key(tmp_path, top, words):
    _, loading = load(tmp_path, "{image: r/x}", top=top)
    with pytest.raises(CatalogError) as info:
        loading()
    assert words in str(info.value)
    assert "\n" not in str(info.value) and info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("name", ["a.b", "web-", "_web", "a" * 64, "wéb", 12])
def test_a_catalog_key_the_engine_refuses_as_a_name_is_one_line_exit_2(tmp_path, name):
    path = tmp_path / "catalog.yml"
    path.write_text(f"services:\n  {name}: {{image: r/x}}\n")
    for argv in (["deploy", "--catalog", str(path), "--service", "web", "--image", "r/x:1"],
                 ["render", "jenkinsfile", "--catalog", str(path), "--service", "web"]):
        # refused on load, before the engine is reached (no DOCKER_HOST here)
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(argv, environ={}, console=Console(out, err))
        out, err = out.getvalue(), err.getvalue()
        assert (code, out) == (2, "")
        assert err == (f"error: {path}: service {name!r}: {catalog.SERVICE_NAME_RULE}\n"), err


@pytest.mark.parametrize("name, ok", [
    ("web", True), ("Web_1", True), ("A-B", True), ("stack_web", True), ("a" * 63, True),
    ("a.b", False), ("web-", False), ("web_", False), ("-web", False), ("a" * 64, False),
    ("web\n", False), ("wéb", False), ("", False),
])
def test_service_names_are_what_the_engine_accepts(name, ok):
    assert bool(catalog.SERVICE_NAME.match(name)) is ok


# ------------------------------------------------------------------ interpolation

ENV = {"SET": "value", "EMPTY": "", "NUM": "3"}


@pytest.mark.parametrize("template, result", [
    ("$SET", "value"), ("${SET}", "value"), ("a${SET}b", "avalueb"), ("$UNSET", ""),
    ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"), ("${SET:-d}", "value"),
    ("${UNSET-d}", "d"), ("${EMPTY-d}", ""), ("${SET-d}", "value"),
    ("${UNSET:-}", ""), ("${UNSET:-a b-c}", "a b-c"), ("$$", "$"), ("$${SET}", "${SET}"),
    ("$$SET", "$SET"), ("${SET:?msg}", "value"), ("${EMPTY?msg}", ""),
    ("no vars", "no vars"), ("$set", ""),  # names are case-sensitive, the pattern is not
    ("$SET-x", "value"),   # as in docker/cli: an unbraced $NAME-default is a default too
])
def test_interpolation_as_stack_deploy_does(template, result):
    assert compose_file.substitute(template, ENV) == result


@pytest.mark.parametrize("template, words", [
    ("${UNSET:?say which}", "required variable UNSET is missing a value: say which"),
    ("${EMPTY:?no}", "required variable EMPTY is missing a value: no"),
    ("${UNSET?gone}", "required variable UNSET is missing a value: gone"),
    ("$", "invalid interpolation format for services.web.image"),
    ("${}", "invalid interpolation format"),
    ("${1BAD}", "invalid interpolation format"),
])
def test_bad_interpolation_is_refused_as_stack_deploy_refuses_it(tmp_path, template, words):
    stack = tmp_path / "docker-stack.yml"
    stack.write_text(f'version: "3.9"\nservices:\n  web:\n    image: "{template}"\n')
    _, loading = load(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert words in str(info.value)
    assert str(info.value).startswith(f"{stack}: service 'web': ")


def test_a_key_given_twice_in_a_stack_file_is_refused(tmp_path):
    stack = tmp_path / "docker-stack.yml"
    stack.write_text('version: "3.9"\nservices:\n  web:\n    image: r/x:1\n'
                     '    environment: {A: "1"}\n    environment: {B: "2"}\n')
    _, loading = load(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert str(info.value) == (f"{stack}: service 'web': duplicate key 'environment': first at "
                               "line 5, again at line 6")


def test_interpolated_values_are_cast_where_stack_deploy_casts(tmp_path):
    stack = tmp_path / "docker-stack.yml"
    stack.write_text('version: "3.9"\nservices:\n  web:\n    image: r/x:1\n'
                     '    read_only: "${RO}"\n    deploy: {replicas: "${N}"}\n'
                     '    ports: [{target: "${P}", mode: host}]\n')
    data = {"services": {"web": {"compose": {"file": "docker-stack.yml", "service": "web"}}}}
    settings = catalog.from_data(data, path=str(tmp_path / "c.yml"),
                                 environ={"RO": "yes", "N": "3", "P": "80"}).service("web")
    assert settings["service"]["read_only"] is True
    assert settings["service"]["deploy"]["replicas"] == 3
    assert settings["service"]["ports"][0]["target"] == 80
    with pytest.raises(CatalogError, match="failed to cast to expected type"):
        catalog.from_data(data, path=str(tmp_path / "c.yml"),
                          environ={"RO": "yes", "N": "three", "P": "80"})


# ------------------------------------------------------------------ stack files

@pytest.mark.parametrize("service, words, key", [
    ("    image: r/x\n    extends: {service: a}\n",
     "unsupported options: extends: Support for `extends` is not implemented yet.", "extends"),
    ("    image: r/x\n    mem_limit: 1g\n", "Set resource limits using deploy.resources",
     "mem_limit"),
    ("    image: r/x\n    colour: red\n", "Additional property colour is not allowed", "colour"),
    ("    image: r/x\n    networks: [back]\n", "undefined network 'back'", "networks.back"),
    ("    image: r/x\n    volumes: ['data:/data']\n", "undefined volume 'data'",
     "volumes[0].source"),
    ("    image: r/x\n    secrets: [pw]\n", "secret 'pw' is not defined", "secrets[0].source"),
    ("    image: r/x\n    restart: sometimes\n", "unknown restart policy: sometimes", "restart"),
    ("    image: 'r/x:1'\n    deploy: {replicas: lots}\n", "whole number", "deploy.replicas"),
])
def test_stack_file_errors_name_the_file_service_and_key(tmp_path, service, words, key):
    stack = tmp_path / "docker-stack.yml"
    stack.write_text(f'version: "3.9"\nservices:\n  web:\n{service}')
    _, loading = load(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert words in str(info.value)
    assert str(info.value).startswith(f"{stack}: service 'web': key '{key}': ")


@pytest.mark.parametrize("text, words", [
    ('version: "2.4"\nservices: {web: {image: r/x}}\n', "unsupported Compose file version: 2.4"),
    ('version: "3.9"\nservices: {api: {image: r/x}}\n', "no service 'web' in the file"),
    ('version: "3.9"\nservices: {web: {image: r/x, networks: [n]}}\nnetworks: {n: {}}\n',
     "existing networks only"),
    ("[", "not valid YAML"),
])
def test_stack_files_stack_deploy_refuses(tmp_path, text, words):
    (tmp_path / "docker-stack.yml").write_text(text)
    _, loading = load(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    with pytest.raises(CatalogError, match="docker-stack.yml") as info:
        loading()
    assert words in str(info.value)


def test_a_missing_stack_file_says_where_it_looked(tmp_path):
    _, loading = load(tmp_path, "{compose: {file: nope.yml, service: web}}")
    with pytest.raises(CatalogError, match="cannot read the stack file"):
        loading()


def test_a_stack_service_without_networks_is_warned_about(tmp_path):
    (tmp_path / "docker-stack.yml").write_text('version: "3.9"\nservices: {web: {image: r/x:1, '
                                               'restart: always, depends_on: [db]}}\n')
    _, loading = load(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    settings = loading().service("web")
    assert settings["warnings"] == [
        "Ignoring unsupported options: restart",
        "Ignoring depends_on: swarm starts services without waiting on one another",
        ("no networks: docker stack deploy would attach the stack's default network; shipway "
         "attaches only the networks named")]
    assert settings["service"]["deploy"]["restart_policy"] == {"condition": "any"}


@pytest.mark.parametrize("content, words", [
    ("A=1\nB C=2\n", "line 2: variable 'B C' contains whitespaces"),
    ("=x\n", "line 1: no variable name"),
    (None, "cannot read"),
    (b"A=\xff\n", "can't decode"),
])
def test_bad_env_files_are_refused_on_load(tmp_path, content, words):
    if content is not None:
        data = content if isinstance(content, bytes) else content.encode()
        (tmp_path / "app.env").write_bytes(data)
    _, loading = load(tmp_path, "{image: r/x, env_file: app.env}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert "key 'env_file'" in str(info.value) and words in str(info.value)


def test_env_files_read_as_docker_reads_them(tmp_path):
    from pipeline.swarm import compose

    (tmp_path / "a.env").write_bytes("\ufeffA=1\n  # note\n\n  B= spaced \nC\nD\nE=x=y\r\n"
                                     .encode())
    assert compose.read_env_file(str(tmp_path / "a.env"), {"C": "from env"}) == {
        "A": "1", "B": " spaced ", "C": "from env", "E": "x=y"}


@pytest.mark.parametrize("value, text", [
    (1, "1"), (True, "true"), (1.0, "1"), (1.5, "1.5"), (1000000.0, "1e+06"),
    (0.00001, "1e-05"), (12345678.9, "1.23456789e+07"), ("007", "007"),
])
def test_values_read_as_numbers_become_the_text_go_prints(value, text):
    settings = catalog.from_data({"services": {"web": {"image": "r/x",
                                                       "environment": {"V": value}}}})
    assert settings.service("web")["service"]["environment"]["V"] == text


def test_fixed_addresses_in_a_stack_file_are_dropped_with_a_warning(tmp_path):
    (tmp_path / "docker-stack.yml").write_text(
        'version: "3.9"\nservices:\n  web:\n    image: r/x:1\n'
        '    networks: {front: {ipv4_address: 10.0.0.9, aliases: [w]}}\n'
        'networks: {front: {external: true}}\n')
    _, loading = load(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    settings = loading().service("web")
    assert settings["service"]["networks"] == {"front": {"aliases": ["w"]}}
    assert settings["warnings"] == [
        "Ignoring networks.front.ipv4_address: swarm assigns the addresses"]


def test_ingress_ports_are_checked_against_the_endpoint_the_service_will_have():
    from pipeline.swarm import compose_defs

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
