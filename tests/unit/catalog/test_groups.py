"""`groups:`: steps in order, waves, a stack file's services ordered by depends_on."""
import pytest

from pipeline import catalog
from pipeline.catalog import groups
from pipeline.errors import CatalogError

SERVICES = {name: {"image": f"127.0.0.1:5000/x/{name}"}
            for name in ("migrate", "worker", "api", "web")}

STACK = """
version: "3.8"
services:
  db: {image: "127.0.0.1:5000/x/db:1"}
  api: {image: "127.0.0.1:5000/x/api:1", depends_on: [db]}
  web: {image: "127.0.0.1:5000/x/web:1", depends_on: {api: {condition: service_started}}}
  worker: {image: "127.0.0.1:5000/x/worker:${TAG:-1}", depends_on: [db]}
"""


def load(group_entries, tmp_path=None, stack=STACK):
    if tmp_path is not None:
        (tmp_path / "stack.yml").write_text(stack)
    path = str(tmp_path / "c.yml") if tmp_path is not None else "c.yml"
    return catalog.from_data({"services": SERVICES, "groups": group_entries}, path,
                             environ={"TAG": "7"})


def test_steps_and_waves_in_order():
    shop = load({"shop": {"steps": ["migrate", ["worker", "api"], "web"]}}).group("shop")
    assert [step.services for step in shop.steps] == [("migrate",), ("worker", "api"), ("web",)]
    assert shop.on_failure == "rollback" and shop.members == ["migrate", "worker", "api", "web"]
    assert shop.steps[1].label(1) == "step 2 (worker, api)"


def test_a_stack_file_group_orders_its_services_by_depends_on(tmp_path):
    loaded = load({"shop-stack": {"compose": {"file": "stack.yml", "stack": "shop"},
                                  "on_failure": "stop"}}, tmp_path)
    group = loaded.group("shop-stack")
    assert [step.services for step in group.steps] == [("db",), ("api", "worker"), ("web",)]
    members = loaded.members("shop-stack")
    assert {m: s["name"] for m, s in members.items()} == {
        "db": "shop_db", "api": "shop_api", "web": "shop_web", "worker": "shop_worker"}
    assert members["worker"]["image_ref"] == "127.0.0.1:5000/x/worker:7"
    assert members["api"]["stack"] == "shop" and group.on_failure == "stop"


@pytest.mark.parametrize("entry, words", [
    ({"steps": ["migrate", "nope"]}, "'groups.shop.steps[1]': no service 'nope' in the catalog"),
    ({"steps": ["migrate", ["api", "migrate"]]},
     "'groups.shop.steps[1]': 'migrate' is in step 1 already"),
    ({"steps": [{"job": "migrate"}]}, "'groups.shop.steps[0]': 'migrate' is not a job"),
    ({"steps": [{"run": "migrate"}]}, "a job step is {job: SERVICE}"),
    ({"steps": []}, "'groups.shop.steps': must be a list"),
    ({}, "needs `steps`"),
    ({"steps": ["web"], "on_failure": "panic"}, "must be one of rollback, stop"),
    ({"compose": {"file": "stack.yml"}}, "must be {file: STACK-FILE, stack: NAME}"),
])
def test_bad_groups_are_one_line_naming_the_group_and_step(entry, words):
    with pytest.raises(CatalogError) as caught:
        load({"shop": entry})
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_depends_on_cycle_is_named(tmp_path):
    cyclic = STACK.replace("depends_on: [db]}", "depends_on: [db, web]}", 1)
    with pytest.raises(CatalogError, match="depends_on has a cycle: api -> web -> api"):
        load({"s": {"compose": {"file": "stack.yml", "stack": "shop"}}}, tmp_path, cyclic)
    missing = STACK.replace("depends_on: [db]}", "depends_on: [cache]}", 1)
    with pytest.raises(CatalogError, match="depends on 'cache', which the stack file"):
        load({"s": {"compose": {"file": "stack.yml", "stack": "shop"}}}, tmp_path, missing)


def test_waves_are_pure():
    fail = pytest.fail
    assert [s.services for s in groups.waves("g", {"a": [], "b": ["a"], "c": []}, fail)] == \
        [("a", "c"), ("b",)]


def test_an_unknown_group_names_those_there_are():
    loaded = load({"shop": {"steps": ["web"]}})
    with pytest.raises(CatalogError, match=r"no group 'x' in the catalog \(groups: shop\)"):
        loaded.group("x")
