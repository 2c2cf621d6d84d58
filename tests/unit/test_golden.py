"""Golden files: each tests/fixtures/golden/<feature>/catalog.yml renders exactly the files
next to it (Jenkinsfile, rollback.Jenkinsfile, <service>.config.xml,
<service>-rollback.config.xml, folder-<path>.config.xml), named as `shipway render -o` names them.

After an intended template change, rewrite them and review the diff:

    UPDATE_GOLDEN=1 python -m pytest -q tests/unit/test_golden.py
    git diff tests/fixtures/golden

A new feature is a new directory holding a catalog.yml with one service; or, for a group's
files (<group>.Jenkinsfile, <group>-rollback[-<env>].Jenkinsfile, <group>.config.xml,
<group>-rollback[-<env>].config.xml), a catalog.yml with groups (and a stack file a group
names, any *.yml beside it): the files of each group with jenkins.repo, and of the one service
with jenkins.repo if there is one.
"""
import os
from types import SimpleNamespace

import pytest

from pipeline import catalog, render, render_group
from pipeline.stages.render import WHAT, rendered_files

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "fixtures", "golden")
FEATURES = sorted(d for d in os.listdir(GOLDEN)
                  if os.path.isfile(os.path.join(GOLDEN, d, "catalog.yml")))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def render_feature(directory):
    """{file name: content} of everything `shipway render` makes for the feature's service,
    or for its groups (and its one service with jenkins.repo)."""
    cat = catalog.load(os.path.join(directory, "catalog.yml"))
    if cat.groups:
        services = [s for s in render.managed_services(cat)]
        groups = render_group.managed_groups(cat)
        assert groups and len(services) <= 1, "a group's golden catalog: groups with " \
            "jenkins.repo, and one service with it at most"
    else:
        assert len(cat.services) == 1, "a golden catalog holds exactly one service"
        services, groups = list(cat.services), []
    files = {}
    for what in WHAT:
        for service in services:
            files.update(rendered_files(cat, SimpleNamespace(
                what=what, service=service, group_name=None, catalog_path=None,
                script_path=None)))
        for group in groups:
            files.update(rendered_files(cat, SimpleNamespace(
                what=what, service=None, group_name=group, catalog_path=None,
                script_path=None)))
    return files


def test_there_are_golden_features():
    assert {"basic", "deploy-branches", "nested-folder", "no-folder", "hostile", "group",
            "group-environments", "group-stack"} <= set(FEATURES)


@pytest.mark.parametrize("feature", FEATURES)
def test_golden(feature):
    directory = os.path.join(GOLDEN, feature)
    files = render_feature(directory)
    existing = {n for n in os.listdir(directory) if not n.endswith(".yml")}
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
