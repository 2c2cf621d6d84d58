"""Golden files: each tests/fixtures/golden/<feature>/catalog.yml renders exactly the files
next to it (Jenkinsfile, rollback.Jenkinsfile, <service>.config.xml,
<service>-rollback.config.xml, folder-<path>.config.xml), named as `shipway render -o` names them.

After an intended template change, rewrite them and review the diff:

    UPDATE_GOLDEN=1 python -m pytest -q tests/unit/test_golden.py
    git diff tests/fixtures/golden

A new feature is a new directory holding a catalog.yml with one service.
"""
import os
from types import SimpleNamespace

import pytest

from pipeline import catalog
from pipeline.stages.render import WHAT, rendered_files

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "fixtures", "golden")
FEATURES = sorted(d for d in os.listdir(GOLDEN)
                  if os.path.isfile(os.path.join(GOLDEN, d, "catalog.yml")))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def render_feature(directory):
    """{file name: content} of everything `shipway render` makes for the feature's service."""
    cat = catalog.load(os.path.join(directory, "catalog.yml"))
    assert len(cat.services) == 1, "a golden catalog holds exactly one service"
    (service,) = cat.services
    files = {}
    for what in WHAT:
        args = SimpleNamespace(what=what, service=service, catalog_path=None, script_path=None)
        files.update(rendered_files(cat, args))
    return files


def test_there_are_golden_features():
    assert {"basic", "deploy-branches", "nested-folder", "no-folder", "hostile"} <= set(FEATURES)


@pytest.mark.parametrize("feature", FEATURES)
def test_golden(feature):
    directory = os.path.join(GOLDEN, feature)
    files = render_feature(directory)
    existing = {n for n in os.listdir(directory) if n != "catalog.yml"}
    if UPDATE:
        for name in existing - set(files):
            os.remove(os.path.join(directory, name))
        for name, content in files.items():
            with open(os.path.join(directory, name), "w", encoding="utf-8", newline="\n") as f:
                f.write(content)
        return
    assert existing == set(files), "golden files differ from the rendered set (UPDATE_GOLDEN=1?)"
    for name, content in files.items():
        with open(os.path.join(directory, name), encoding="utf-8", newline="") as handle:
            expected = handle.read()
        assert content == expected, f"{feature}/{name} changed (UPDATE_GOLDEN=1 to accept)"
