"""--group on deploy, rollback, status, releases and remove: bad input is one line, exit 2."""

import pytest

from tests.support.cli import catalog_file as write_catalog
from tests.support.cli import run_cli

CATALOG = """
services:
  api: {image: 127.0.0.1:5000/x/api}
  web: {image: 127.0.0.1:5000/x/web}
groups:
  shop: {steps: [api, web]}
"""


def run(argv, environ=None):
    return run_cli(argv, environ or {"DOCKER_HOST": "unix:///nonexistent.sock"})


@pytest.fixture
def catalog_file(tmp_path):
    return write_catalog(tmp_path, CATALOG)


@pytest.mark.parametrize("argv, words", [
    (["deploy", "--group", "shop", "--service", "api"], "give --service or --group, not both"),
    (["deploy", "--group", "shop"], "needs the catalog"),
    (["rollback", "--group", "nope"], "no group 'nope' in the catalog (groups: shop)"),
    (["deploy", "--group", "shop", "--image", "db=r/db:1"], "give MEMBER=REF for a member"),
    (["deploy", "--group", "shop", "--image", "api=r/api:1", "--replicas", "3"],
     "are for one service"),
    (["deploy", "--group", "shop", "--image", "api=NOT A REF"], "api: not a valid image"),
    (["deploy"], "give --service NAME or --group NAME"),
    (["deploy", "--service", "api", "--image", "r/a:1", "--image", "r/a:2"],
     "--image given more than once"),
    (["remove", "--group", "shop", "--service", "api"], "give --service or --group, not both"),
    (["remove", "--group", "shop", "--dry-run"], "needs the catalog"),
    (["remove", "--group", "nope", "--json"], "no group 'nope' in the catalog (groups: shop)"),
    (["remove", "--group", "shop", "--environment", "prod"], "no environment 'prod'"),
    (["remove", "--dry-run"], "give --service NAME or --group NAME"),
])
def test_bad_group_input_is_one_line(argv, words, catalog_file):
    if "--group" in argv and argv[2] != "shop" or "needs the catalog" not in words:
        argv = argv + ["--catalog", catalog_file]
    code, out, err = run(argv)
    assert code == 2 and out == ""
    assert words in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, words", [
    (["--to", "3a"], "--to '3a': with --group, --to is a group release number"),
    (["--to", "sha256:abc"], "with --group, --to is a group release number"),
    (["--reason", "two\x07bells"], "the reason holds control characters"),
    (["--reason", "x" * 501], "the reason is 501 characters long"),
])
def test_bad_group_rollback_input_is_one_line_before_the_engine(argv, words, catalog_file):
    code, out, err = run(["rollback", "--group", "shop", "--catalog", catalog_file] + argv)
    assert code == 2 and out == ""
    assert words in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, seq", [(None, None), ("previous", None), ("#3", 3), ("12", 12)])
def test_group_release_numbers(text, seq):
    from pipeline.stages import group
    assert group.group_release_number("shop", text) == seq
