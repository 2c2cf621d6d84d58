"""Stack files parsed as `docker stack deploy` parses them (pipeline/catalog/compose_yaml.py):
plain scalars resolved as go-yaml v2 resolves them (vendor/gopkg.in/yaml.v2/resolve.go), on
either parser, with loader.py's duplicate-key refusal kept."""
import math

import pytest
import yaml

from pipeline.catalog import compose_yaml, loader
from tests.support.catalogs import entry_loader


@pytest.mark.parametrize("text, value", [
    ("22:22", "22:22"),          # PyYAML: base 60, 1342
    ("y", True), ("N", False), ("yes", True), ("Off", False), ("TRUE", True),
    ("2001-01-01", "2001-01-01"),   # PyYAML: a date
    ("0o17", 15), ("017", 15), ("0x1F", 31), ("0b101", 5), ("-0b101", -5), ("1_000", 1000),
    ("08", 8.0), ("1e3", 1000.0), ("1_000.5", 1000.5), (".5", 0.5), ("+5", 5),
    ("=", "="),                  # PyYAML cannot read it
    ("~", None), ("null", None), ("", None),
    ("99999999999999999999", 1e20), ("18446744073709551615", 2 ** 64 - 1),
    ("1.5.6", "1.5.6"), ("0400", 256), ("3.0", 3.0), ("1:2:3", "1:2:3"),
])
def test_plain_scalars_mean_what_they_mean_to_go_yaml(text, value):
    for loaders in {compose_yaml.LOADERS, (None, compose_yaml.LOADERS[1])}:
        got = loader.load(f"a: {text}\n", loaders)["a"]
        assert got == value and type(got) is type(value), (text, got)


def test_special_floats_quoted_text_anchors_and_merge_keys():
    doc = compose_yaml.load("a: [.inf, -.Inf, .NaN, 'y', \"22:22\"]\n"
                            "b: &b {x: 1}\nc: {<<: *b, y: 2}\n")
    assert doc["a"][:2] == [math.inf, -math.inf] and math.isnan(doc["a"][2])
    assert doc["a"][3:] == ["y", "22:22"]
    assert doc["c"] == {"x": 1, True: 2}   # `y` is a key true, as for go-yaml


def test_a_key_given_twice_is_still_refused():
    with pytest.raises(loader.DuplicateKey):
        compose_yaml.load("a: 1\na: 2\n")


def test_the_catalog_itself_keeps_pyyamls_reading():
    assert loader.load("a: [y, 0o17]\n") == {"a": ["y", "0o17"]}


def test_a_port_written_as_go_yaml_reads_it(tmp_path):
    (tmp_path / "docker-stack.yml").write_text(
        'version: "3.8"\nservices:\n  web:\n    image: r/x:1\n    ports:\n      - 22:22\n'
        '      - 2222:22\n')
    _, loading = entry_loader(tmp_path, "{compose: {file: docker-stack.yml, service: web}}")
    assert loading().service("web")["service"]["ports"] == [
        {"target": 22, "published": 22, "protocol": "tcp", "mode": "ingress"},
        {"target": 22, "published": 2222, "protocol": "tcp", "mode": "ingress"}]


def test_an_explicit_tag_that_cannot_be_read_is_an_error():
    with pytest.raises(ValueError):
        compose_yaml.load("a: !!int abc\n")
    with pytest.raises(yaml.YAMLError):
        compose_yaml.load("a: [\n")
