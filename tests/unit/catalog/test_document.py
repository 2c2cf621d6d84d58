"""The catalog file (pipeline/catalog/document.py): defaults, merging, the settings of a
service, and one clear line per bad key (exit 2)."""
import pytest

from pipeline import catalog
from pipeline.cli import main
from pipeline.errors import EXIT_USAGE, CatalogError

GOOD = """
version: 1
defaults:
  deploy:
    update_config: {order: stop-first}
    timeout: 1m
services:
  web:
    image: 127.0.0.1:5000/team/web
    build: make
    stop_grace_period: 1m30s
    deploy:
      replicas: 3
      update_config: {delay: 500ms}
      keep_releases: 4
"""


def write(tmp_path, text):
    path = tmp_path / "catalog.yml"
    path.write_text(text)
    return str(path)


def test_defaults_and_catalog_defaults_merge(tmp_path):
    web = catalog.load(write(tmp_path, GOOD)).service("web")
    assert web["service"] == {"stop_grace_period": 90.0, "deploy": {
        "replicas": 3, "update_config": {"delay": 0.5, "order": "stop-first"}}}  # only what is set
    assert web["deploy"] == {"timeout": 60.0, "with_registry_auth": True, "keep_releases": 4}
    assert web["dockerfile"] == "Dockerfile"
    assert web["source"] == "catalog" and web["image_ref"] is None


@pytest.mark.parametrize("entry, key, words", [
    ("{image: r/x, colour: red}", "colour", "unknown key"),
    ("{image: r/x, deploy: {replicas: three}}", "deploy.replicas", "whole number"),
    ("{image: r/x, deploy: {update_config: {order: sideways}}}", "deploy.update_config.order",
     "one of"),
    ("{image: 'Bad Image!'}", "image", "not a valid image reference"),
    ("{image: 'r/x:1.0'}", "image", "without tag"),
    ("{image: r/x, stop_grace_period: soon}", "stop_grace_period", "duration"),
    ("{image: r/x, environment: {'': x}}", "environment", "bad name"),
    ("{image: r/x, ports: [{target: 80, mode: mesh}]}", "ports[0].mode", "one of host, ingress"),
    ("{build: make}", "image", "required"),
    ("{image: r/x, ports: [{target: 65536}]}", "ports[0].target", "or less"),
    ("{image: r/x, deploy: {replicas: 99999999999999999999}}", "deploy.replicas", "or less"),
    ("{image: r/x, jenkins: {timeout_minutes: 2147483648}}", "jenkins.timeout_minutes",
     "or less"),
    ("{image: r/x, tmpfs: ['/scratch:size=lots']}", "tmpfs", "not a size"),
])
def test_bad_entry_names_file_service_and_key(tmp_path, entry, key, words):
    path = write(tmp_path, f"services:\n  web: {entry}\n")
    with pytest.raises(CatalogError) as info:
        catalog.load(path)
    text = str(info.value)
    assert text.startswith(f"{path}: service 'web': key '{key}': ")
    assert words in text
    assert info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("text, words", [
    ("services: [a, b]", "mapping"),
    ("services: {}", "mapping of service names"),
    ("servics: {a: {image: r/x}}", "unknown top-level key"),
    ("services: {a: {image: r/x}}\nversion: 2", "version"),
    ("services: {'Bad.Name': {image: r/x}}", "service names"),
    ("services: {'web_': {image: r/x}}", "service names"),
    ("services: {a: [", "not valid YAML"),
    ("services: {a: {image: r/x}}\n~: 1", "key 'None': unknown top-level key"),
    ("services: {a: {image: r/x}}\n7: 1", "key '7': unknown top-level key"),
])
def test_bad_document(tmp_path, text, words):
    with pytest.raises(CatalogError) as info:
        catalog.load(write(tmp_path, text))
    assert words in str(info.value)


def test_missing_file_is_usage_error(tmp_path):
    with pytest.raises(CatalogError) as info:
        catalog.load(str(tmp_path / "nope.yml"))
    assert "cannot read the catalog" in str(info.value)


def test_unknown_service_lists_the_known_ones(tmp_path):
    with pytest.raises(CatalogError, match="services: web"):
        catalog.load(write(tmp_path, GOOD)).service("api")


def test_cli_bad_catalog_exits_2_with_one_line(tmp_path, capsys):
    path = write(tmp_path, "services:\n  web: {image: r/x, deploy: {replicas: -1}}\n")
    code = main(["build", "--catalog", path, "--service", "web"], environ={})
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "deploy.replicas" in err and path in err


def test_catalog_name_defaults_to_file_stem(tmp_path):
    assert catalog.load(write(tmp_path, GOOD)).name == "catalog"
    named = write(tmp_path, "name: ops\n" + GOOD)
    assert catalog.load(named).name == "ops"


def test_settings_shape_for_a_catalog_entry():
    data = {"secrets": {"pw": {"environment": "PW"}, "unused": {"environment": "X"}},
            "networks": {"front": {"name": "proxy"}},
            "defaults": {"deploy": {"timeout": "1m"}, "environment": {"A": "1"}},
            "services": {"web": {"image": "reg/web", "secrets": ["pw"], "networks": ["front"],
                                 "environment": {"B": "2"}, "deploy": {"replicas": 2}}}}
    settings = catalog.from_data(data, path="/srv/ops/catalog.yml").service("web")
    assert settings["service"] == {"secrets": [{"source": "pw"}], "networks": {"front": {}},
                                   "environment": {"A": "1", "B": "2"},
                                   "deploy": {"replicas": 2}}
    assert settings["definitions"] == {"secrets": {"pw": {"environment": "PW"}}, "configs": {},
                                       "networks": {"front": {"name": "proxy",
                                                              "external": True}},
                                       "volumes": {}}
    assert settings["deploy"] == {"timeout": 60.0, "with_registry_auth": True,
                                  "keep_releases": 10}
    assert (settings["source"], settings["image"], settings["image_ref"]) == (
        "catalog", "reg/web", None)
    assert settings["base_dir"] == "/srv/ops"
