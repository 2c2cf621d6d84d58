"""YAML files read into documents (pipeline/catalog/loader.py): on libyaml's parser when PyYAML
has it, a key given twice refused on either parser, what PyYAML's own parser reads still
read, errors worded as before, and a file nested too deeply one line, not a crash."""
import glob
import os
import subprocess
import sys

import pytest
import yaml

from pipeline import catalog
from pipeline.catalog import loader
from pipeline.errors import CatalogError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
LOADERS = [loader.PythonLoader] + ([loader.CLoader] if loader.CLoader else [])
needs_libyaml = pytest.mark.skipif(loader.CLoader is None, reason="PyYAML without libyaml")


def write(tmp_path, data, name="catalog.yml"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path)


@needs_libyaml
def test_the_c_parser_reads_when_pyyaml_has_it(monkeypatch):
    monkeypatch.setattr(loader, "PythonLoader", None)   # any use of it would fail
    assert loader.load("services: {web: {image: r/x}}") == {"services": {"web": {"image": "r/x"}}}


@pytest.mark.parametrize("yaml_loader", LOADERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("text, key, first, second", [
    ("a: 1\nb: 2\na: 3\n", "a", 1, 3),
    ("s:\n  web: {image: x, image: y}\n", "image", 2, 2),
    ("- {7: a}\n- {7: a, 7: b}\n", 7, 2, 2),
])
def test_a_key_given_twice_is_refused_by_either_parser(yaml_loader, text, key, first, second):
    with pytest.raises(loader.DuplicateKey) as info:
        yaml.load(text, Loader=yaml_loader)
    assert (info.value.key, info.value.first_line, info.value.second_line) == (key, first,
                                                                               second)
    assert info.value.problem == (f"duplicate key {key!r}: first at line {first}, again at "
                                  f"line {second}")


@pytest.mark.parametrize("yaml_loader", LOADERS, ids=lambda c: c.__name__)
def test_merge_keys_are_not_duplicates(yaml_loader):
    text = "base: &b {a: 1, b: 2}\nthis: {<<: *b, a: 3}\n"
    assert yaml.load(text, Loader=yaml_loader)["this"] == {"a": 3, "b": 2}


def test_the_repositorys_yaml_reads_the_same_on_both_parsers():
    files = [f for pattern in ("examples/**/*.yml", "tests/fixtures/**/*.yml")
             for f in glob.glob(os.path.join(ROOT, pattern), recursive=True)]
    assert len(files) > 10
    for path in files:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert [yaml.load(text, Loader=c) for c in LOADERS] == [yaml.safe_load(text)] * len(
            LOADERS), path


def test_what_pyyaml_reads_and_libyaml_does_not_is_still_read():
    # docs/catalog.md writes `TOKEN:` (the value from shipway's environment) this way
    assert loader.load("environment: {GREETING: hello, TOKEN:}") == {
        "environment": {"GREETING": "hello", "TOKEN": None}}


@pytest.mark.parametrize("text, message", [
    ("services: {a: [", "not valid YAML at line 1: expected the node content, but found "
                        "'<stream end>'"),
    ("services:\n  web:\n\timage: r/x", "not valid YAML at line 3: found character '\\t' that "
                                        "cannot start any token"),
    ("services: {a: {image: r/x}}\nservices: {}\n", "not valid YAML at line 2: duplicate key "
                                                    "'services': first at line 1, again at "
                                                    "line 2"),
])
def test_errors_read_as_pyyamls_own_parser_words_them(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CatalogError) as info:
        catalog.load(path)
    assert str(info.value) == f"{path}: {message}"


def test_a_byte_order_mark_is_read_past(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfservices:\n  web: {image: r/x}\n")
    assert list(catalog.load(path).services) == ["web"]


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    path = write(tmp_path, b"services: {web: {image: r/\xff}}\n")
    with pytest.raises(CatalogError) as info:
        catalog.load(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 26) (save the catalog as UTF-8)"
    stack = write(tmp_path, b"services:\n  web:\n    image: r/\xff\n", "docker-stack.yml")
    path = write(tmp_path, "services: {web: {compose: {file: docker-stack.yml, service: web}}}")
    with pytest.raises(CatalogError) as info:
        catalog.load(path)
    assert str(info.value) == f"{stack}: service 'web': not UTF-8 text (byte 30)"


@pytest.mark.parametrize("depth", [500, 50_000])
def test_a_file_nested_too_deeply_is_one_line(tmp_path, depth):
    # In a child process: libyaml's own composer would die of SIGSEGV at the deeper one.
    path = write(tmp_path, "[" * depth + "]" * depth)
    done = subprocess.run([sys.executable, "-m", "pipeline", "render", "jenkinsfile",
                           "--catalog", path, "--service", "web"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
                          timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: {path}: not a catalog: nested too deeply\n"
