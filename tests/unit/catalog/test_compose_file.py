"""One service of a stack file (pipeline/catalog/compose_file.py): read as `docker stack deploy`
reads it (variables, casts, refused and ignored keys), and layered under the catalog's entry."""
import pytest

from pipeline import catalog
from pipeline.catalog import compose_file
from pipeline.errors import CatalogError
from tests.support.catalogs import entry_loader, load_fixture

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
    _, loading = entry_loader(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert words in str(info.value)
    assert str(info.value).startswith(f"{stack}: service 'web': ")


def test_a_key_given_twice_in_a_stack_file_is_refused(tmp_path):
    stack = tmp_path / "docker-stack.yml"
    stack.write_text('version: "3.9"\nservices:\n  web:\n    image: r/x:1\n'
                     '    environment: {A: "1"}\n    environment: {B: "2"}\n')
    _, loading = entry_loader(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
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
    _, loading = entry_loader(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert words in str(info.value)
    assert str(info.value).startswith(f"{stack}: service 'web': key '{key}': ")


@pytest.mark.parametrize("text, words", [
    ('version: "2.4"\nservices: {web: {image: r/x}}\n', "unsupported Compose file version: 2.4"),
    ('version: "3.9"\nservices: {api: {image: r/x}}\n', "no service 'web' in the file"),
    ('version: "3.9"\nservices: {web: {image: r/x, networks: [n]}}\nnetworks: {n: {}}\n',
     "Non-string key in networks: false: quote it"),   # go-yaml reads `n` as false
    ('version: "3.9"\nservices: {web: {image: r/x, environment: {DEBUG: on}}}\n',
     "key 'environment.DEBUG': must be a string, number or null"),
    ('version: "3.9"\nservices: {web: {image: r/x, volumes: [v:/v]}}\n'
     'volumes: {v: {external: true, driver: nfs}}\n',
     "key 'volumes.v.driver': conflicting parameters \"external\" and \"driver\""),
    ('version: "3.9"\nservices: {web: {image: r/x, networks: [a]}}\n'
     'networks: {a: {external: {name: x}, name: other}}\n',
     "networks.a.external.name and networks.a.name conflict"),
    ('version: "3.9"\nservices: {web: {image: r/x, networks: [a]}}\n'
     'networks: {a: {driver: overlay, scope: swarm}}\n', "key 'networks.a.scope': unknown key"),
    ("[", "not valid YAML"),
])
def test_stack_files_stack_deploy_refuses(tmp_path, text, words):
    (tmp_path / "docker-stack.yml").write_text(text)
    _, loading = entry_loader(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    with pytest.raises(CatalogError, match="docker-stack.yml") as info:
        loading()
    assert words in str(info.value)


def test_a_missing_stack_file_says_where_it_looked(tmp_path):
    _, loading = entry_loader(tmp_path, "{compose: {file: nope.yml, service: web}}")
    with pytest.raises(CatalogError, match="cannot read the stack file"):
        loading()


def test_a_stack_service_without_networks_joins_the_stacks_default_network(tmp_path):
    (tmp_path / "docker-stack.yml").write_text('version: "3.9"\nservices: {web: {image: r/x:1, '
                                               'restart: always, depends_on: [db]}}\n')
    _, loading = entry_loader(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    settings = loading().service("web")
    assert settings["warnings"] == [
        "Ignoring unsupported options: restart",
        "Ignoring depends_on: swarm starts services without waiting on one another"]
    assert settings["service"]["deploy"]["restart_policy"] == {"condition": "any"}
    assert settings["service"]["networks"] == {"default": {}}   # <stack>_default (swarm/stack)
    assert settings["definitions"]["networks"] == {}


def test_fixed_addresses_in_a_stack_file_are_dropped_with_a_warning(tmp_path):
    (tmp_path / "docker-stack.yml").write_text(
        'version: "3.9"\nservices:\n  web:\n    image: r/x:1\n'
        '    networks: {front: {ipv4_address: 10.0.0.9, aliases: [w]}}\n'
        'networks: {front: {external: true}}\n')
    _, loading = entry_loader(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    settings = loading().service("web")
    assert settings["service"]["networks"] == {"front": {"aliases": ["w"]}}
    assert settings["warnings"] == [
        "Ignoring networks.front.ipv4_address: swarm assigns the addresses"]


# ------------------------------------------------------------------ under the catalog's entry

def test_catalog_keys_override_the_stack_file():
    settings = load_fixture("full", image="127.0.0.1:5000/test/parity", networks=["other"],
                            environment={"GREETING": "from the catalog"},
                            deploy={"replicas": 5, "keep_releases": 3})
    service = settings["service"]
    assert settings["source"] == "compose"
    assert settings["image_ref"] == "127.0.0.1:5000/test/parity:1"
    assert service["networks"] == {"other": {}}          # the whole list, not merged
    assert service["environment"]["GREETING"] == "from the catalog"
    assert service["environment"]["FROM_SHELL"] is None  # the file's keys stay
    assert service["deploy"]["replicas"] == 5
    assert service["deploy"]["mode"] == "replicated"
    assert settings["deploy"]["keep_releases"] == 3
    assert "image" not in service


def test_another_repository_in_the_catalog_drops_the_files_tag():
    settings = load_fixture("full", image="reg/other")
    assert (settings["image"], settings["image_ref"]) == ("reg/other", None)


def test_stack_deploys_warnings_are_returned():
    assert load_fixture("mesh")["warnings"] == [
        "Ignoring unsupported options: build, restart",
        ("Ignoring deprecated options: container_name: Setting the container name is not "
         "supported."),
        ("Ignoring tmpfs: docker stack deploy does not use it (mount a volume of type tmpfs "
         "instead)")]
    assert load_fixture("full")["warnings"] == []


def test_the_file_goes_over_the_catalogs_defaults_and_under_the_entry(tmp_path):
    (tmp_path / "docker-stack.yml").write_text(
        'version: "3.9"\nservices:\n  web:\n    image: r/x:1\n    stop_signal: SIGINT\n'
        '    deploy: {replicas: 2, update_config: {order: stop-first}}\n')
    data = {"defaults": {"stop_signal": "SIGTERM", "user": "app",
                         "deploy": {"update_config": {"order": "start-first", "delay": "1s"}}},
            "services": {"web": {"compose": {"file": "docker-stack.yml", "service": "web"},
                                 "deploy": {"replicas": 3}}}}
    service = catalog.from_data(data, path=str(tmp_path / "c.yml")).service("web")["service"]
    assert service == {"stop_signal": "SIGINT", "user": "app", "networks": {"default": {}},
                       "deploy": {"replicas": 3,
                                  "update_config": {"order": "stop-first", "delay": 1.0}}}
