"""Env files (pipeline/catalog/env_file.py): read as docker reads them, and a bad one refused
when the catalog is loaded."""
import pytest

from pipeline.catalog.env_file import read_env_file
from pipeline.errors import CatalogError
from tests.support.catalogs import entry_loader


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
    _, loading = entry_loader(tmp_path, "{image: r/x, env_file: app.env}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert "key 'env_file'" in str(info.value) and words in str(info.value)


def test_env_files_read_as_docker_reads_them(tmp_path):
    (tmp_path / "a.env").write_bytes("\ufeffA=1\n  # note\n\n  B= spaced \nC\nD\nE=x=y\r\n"
                                     .encode())
    assert read_env_file(str(tmp_path / "a.env"), {"C": "from env"}) == {
        "A": "1", "B": " spaced ", "C": "from env", "E": "x=y"}
