"""The README and docs/catalog.md say what the code does: the stage table's flags exist, the
catalog examples load, docs/catalog.md shows every catalog key, and the README's catalog
error example is what shipway prints. (A fraction of a second, no engine.)"""
import io
import os
import re

import pytest
import yaml

from pipeline import catalog, cli
from pipeline.catalog import compose_keys, keys, notify_keys
from pipeline.console import Console

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as handle:
        return handle.read()


def yaml_blocks(text):
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def stage_rows():
    """{stage: flags column} of the README's stage table."""
    rows = re.findall(r"^\| `([a-z]+)` \| .* \| (.*) \|$", read("README.md"), re.M)
    return dict(rows)


def documented_flags(column):
    flags = set()
    for match in re.finditer(r"--([a-z-]+)(?:\{([a-z,-]+)\})?(\*)?", column):
        stem, choices, star = match.groups()
        if star:
            continue        # "the same for --rollback-*": checked through the deploy row
        flags.update(f"--{stem}{c}" for c in choices.split(",")) if choices \
            else flags.add(f"--{stem}")
    return flags


def parser_flags(stage):
    parser = cli.build_parser(stage)
    (sub,) = [a for a in parser._actions if a.dest == "stage"]
    return set(sub.choices[stage]._option_string_actions)


def test_the_stage_table_names_every_stage_module():
    rows = stage_rows()
    assert set(rows) == set(cli.STAGES) - {"render", "jobs"}   # those two have sections


@pytest.mark.parametrize("stage", sorted(stage_rows()))
def test_every_flag_in_the_stage_table_exists(stage):
    flags = documented_flags(stage_rows()[stage])
    assert flags, stage
    missing = flags - parser_flags(stage)
    assert not missing, f"README names {sorted(missing)} for `shipway {stage}`"
    if stage == "deploy":   # "the same for --rollback-*"
        assert {f.replace("--update-", "--rollback-") for f in flags
                if f.startswith("--update-")} <= parser_flags(stage)


def schema_keys(schema, prefix=""):
    keys = set()
    for key, value in schema.items():
        keys.add(prefix + key)
        inner = value[0] if isinstance(value, list) else value
        if isinstance(inner, dict):
            keys |= schema_keys(inner, f"{prefix}{key}.")
    return keys


def used_keys(data, prefix=""):
    keys = set()
    for key, value in data.items():
        key = "on" if key is True else key    # a bare `on:` (notify), as YAML 1.1 reads it
        keys.add(prefix + key)
        inner = value[0] if isinstance(value, list) and value else value
        if isinstance(inner, dict):
            keys |= used_keys(inner, f"{prefix}{key}.")
    return keys


DOCS_STACK_FILE = """
version: "3.8"
services:
  web:
    image: 127.0.0.1:5000/shipway/web:1.0
    networks: [front]
networks:
  front: {external: true, name: proxy}
"""


def test_docs_catalog_example_loads_and_shows_every_key(tmp_path, monkeypatch):
    (block,) = yaml_blocks(read("docs", "catalog.md"))
    path = tmp_path / "shipway.yml"
    path.write_text(block)
    for name in ("docker-stack.yml",):
        (tmp_path / name).write_text(DOCS_STACK_FILE)
    os.makedirs(tmp_path / "hello")
    (tmp_path / "hello" / "hello.env").write_text("A=1\n")
    loaded = catalog.load(str(path))
    assert loaded.service("web")["image_ref"] == "127.0.0.1:5000/shipway/web:1.0"
    data = yaml.safe_load(block)
    used = set()
    for service in data["services"].values():
        used |= used_keys(service)
    every = schema_keys(keys.SERVICE_SCHEMA) | set(compose_keys.KEYS) | {
        f"deploy.{key}" for key in (*compose_keys.DEPLOY_KEYS, *keys.RUN_SCHEMA)} | {
        f"healthcheck.{key}" for key in compose_keys.HEALTHCHECK_KEYS if key != "disable"}
    assert every <= used, sorted(every - used)
    assert set(keys.TOP_LEVEL) <= set(data)
    shown = used_keys({"notify": data["notify"]}) | used
    assert {f"notify.{key}" for key in notify_keys.ENTRY_SCHEMA} <= shown
    assert any(True in entry for entry in data["notify"]), "`on:` written bare, as users do"


def test_readme_catalog_example_loads(tmp_path):
    block = yaml_blocks(read("README.md"))[0]
    path = tmp_path / "shipway.yml"
    path.write_text(block)
    assert list(catalog.load(str(path)).services) == ["hello"]


def test_readme_catalog_error_example_is_what_shipway_prints(tmp_path, monkeypatch):
    text = read("README.md")
    (example,) = re.findall(r"^error: shipway\.yml: .*$", text, re.M)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shipway.yml").write_text(
        "services:\n  hello:\n    image: 127.0.0.1:5000/shipway/hello\n"
        "    deploy: {update_config: {order: sideways}}\n")
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["deploy", "--catalog", "shipway.yml", "--service", "hello"], environ={},
                    console=Console(out, err))
    assert (code, err.getvalue()) == (2, example + "\n")


def test_jenkins_readme_documents_exactly_the_step_parameters():
    """jenkins/README.md's parameter table of each step names what the step reads."""
    text = read("jenkins", "README.md")
    sections = re.split(r"^### `(\w+)`$", text, flags=re.M)[1:]
    steps = dict(zip(sections[::2], sections[1::2]))
    names = sorted(f[:-len(".groovy")] for f in os.listdir(os.path.join(ROOT, "jenkins", "vars"))
                   if f.endswith(".groovy"))
    assert sorted(steps) == names
    for step, body in steps.items():
        documented = set(re.findall(r"^\| `(\w+)` \|", body, re.M))
        source = read("jenkins", "vars", f"{step}.groovy")
        read_by_step = set(re.findall(r"config\.(?:containsKey\(')?(\w+)", source)) - {
            "containsKey"}
        assert documented == read_by_step, step


def test_the_example_catalogs_load_and_match():
    """examples/environments.yml is examples/catalog.yml's service in the two labs."""
    plain = catalog.load(os.path.join(ROOT, "examples", "catalog.yml"))
    envs = catalog.load(os.path.join(ROOT, "examples", "environments.yml"))
    assert list(envs.environments) == ["staging", "production"]
    assert envs.service("hello", "staging")["image"] == plain.service("hello")["image"]
    assert envs.service("hello", "production")["image"] == "10.210.0.1:5001/shipway/hello"
    assert envs.environments["production"].approval is not None
