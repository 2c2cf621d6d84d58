"""shipway's own keys (pipeline/catalog/keys.py): service names as the engine takes them, and
the keys of earlier catalogs saying where they went."""
import io

import pytest

from pipeline import catalog, cli
from pipeline.console import Console
from pipeline.errors import CatalogError
from tests.support.catalogs import entry_loader


@pytest.mark.parametrize("old, new", [
    ("env: {A: b}", "`environment`"), ("networks: [proxy]", "`networks`"),
    ("ports: [{target: 80}]", "`ports`"), ("stop_grace_period: 1s", "`stop_grace_period`"),
    ("update: {order: stop-first}", "`deploy.update_config`"),
    ("rollback: {order: stop-first}", "`deploy.rollback_config`"),
])
def test_old_keys_name_the_new_key(tmp_path, old, new):
    _, loading = entry_loader(tmp_path, f"{{image: r/x, deploy: {{{old}}}}}")
    with pytest.raises(CatalogError) as info:
        loading()
    assert f"key 'deploy.{old.split(':')[0]}': is now {new}" in str(info.value)


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
