"""The parsed-catalog cache (pipeline/doccache.py): unchanged bytes are read back without
PyYAML, any change is parsed again, only what JSON keeps exactly is kept, and any trouble
with the cache is no cache."""
import json
import os
import subprocess
import sys

import pytest

from pipeline import catalog, doccache, yamlload
from pipeline.errors import CatalogError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CATALOG = "version: 1\nservices:\n  web:\n    image: 127.0.0.1:5000/web\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("SHIPWAY_CACHE_DIR", str(directory))
    return directory


def parses(monkeypatch):
    """Count the real parses."""
    calls = []
    real = yamlload.load

    def counting(text):
        calls.append(text)
        return real(text)
    monkeypatch.setattr(yamlload, "load", counting)
    return calls


def test_unchanged_bytes_are_read_back_and_a_change_is_parsed_again(tmp_path, cache,
                                                                      monkeypatch):
    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG)
    calls = parses(monkeypatch)
    first = doccache.load_file(str(path))
    assert doccache.load_file(str(path)) == first and len(calls) == 1
    path.write_text(CATALOG.replace("web:", "api:"))
    assert "api" in doccache.load_file(str(path))["services"] and len(calls) == 2
    assert len(os.listdir(cache)) == 1   # one entry per catalog path, replaced


@pytest.mark.parametrize("text", [
    "when: 2001-12-14\n",            # a date: JSON cannot write it
    "ports: {8080: web}\n",          # an integer key: JSON would make it "8080"
    "x: .inf\n",                     # inf: not JSON
    "b: !!binary aGk=\n",            # bytes
])
def test_what_json_would_change_is_not_kept(tmp_path, cache, monkeypatch, text):
    path = tmp_path / "doc.yml"
    path.write_text(text)
    calls = parses(monkeypatch)
    assert doccache.load_file(str(path)) == doccache.load_file(str(path))
    assert len(calls) == 2 and not (cache.exists() and os.listdir(cache))


def test_a_bad_document_raises_as_before_and_is_not_kept(tmp_path, cache):
    path = tmp_path / "catalog.yml"
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(yamlload.DuplicateKey):
        doccache.load_file(str(path))
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(CatalogError, match="not UTF-8 text"):
        catalog.load(str(path))
    assert not cache.exists()


def test_a_corrupt_or_foreign_entry_is_parsed_over(tmp_path, cache, monkeypatch):
    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG)
    doccache.load_file(str(path))
    (entry,) = cache.iterdir()
    for text in ("{not json", json.dumps([1]),
                 json.dumps({"format": 99, "sha256": "x", "document": {}})):
        entry.write_text(text)
        assert doccache.load_file(str(path))["services"]["web"]


def test_an_unwritable_cache_or_off_is_no_cache(tmp_path, monkeypatch):
    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG)
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SHIPWAY_CACHE_DIR", str(blocker / "sub"))   # under a file
    assert doccache.load_file(str(path))["version"] == 1
    monkeypatch.setenv("SHIPWAY_CACHE_DIR", "off")
    assert doccache.cache_dir(os.environ) is None
    monkeypatch.delenv("SHIPWAY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert doccache.cache_dir(os.environ) == str(tmp_path / "xdg" / "shipway")


def test_a_cached_catalog_is_loaded_without_importing_pyyaml(tmp_path, cache):
    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG)
    code = ("import sys\nfrom pipeline import catalog\n"
            f"entry = catalog.load({str(path)!r}).service('web')\n"
            "print(entry['image_ref'], 'yaml' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": ROOT}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=ROOT, env=env).stdout.split() for _ in range(2)]
    assert runs[0][1] == "True" and runs[1] == [runs[0][0], "False"]
