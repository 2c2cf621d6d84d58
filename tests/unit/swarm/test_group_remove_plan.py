"""`shipway remove --group`'s plan (group_remove_plan), from what group_remove.read read of the
lab (tests/fixtures/groupremove, recorded by its record.py): a stack group with a service its
file no longer has, and a catalog group with a member never deployed."""
import copy
import json
import os

from pipeline.catalog.groups import Group, Step
from pipeline.swarm import group_remove_plan
from pipeline.swarm.writes import (
    RemoveGroupRecords,
    RemoveObjects,
    RemoveRecords,
    RemoveService,
    RemoveStackObject,
)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "fixtures", "groupremove")


def reading(name):
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as handle:
        return json.load(handle)


STACK = reading("stack")
CATALOG = reading("catalog")
SPACE = STACK["stack"]
STACK_GROUP = Group(STACK["group"], (Step(("db",)), Step(("web",))), stack=SPACE)
A, B, C, D = sorted(CATALOG["members"])
CATALOG_GROUP = Group(CATALOG["group"], (Step((A,)), Step((C, B)), Step((D,))))


def kinds(writes):
    return [(type(w).__name__, getattr(w, "name", None) or getattr(w, "key", None))
            for w in writes]


def test_members_go_newest_step_first_a_waves_members_in_name_order():
    assert group_remove_plan.member_order(CATALOG_GROUP) == [D, B, C, A]
    assert group_remove_plan.member_order(STACK_GROUP) == ["web", "db"]


def test_a_stack_group_goes_as_docker_stack_rm_takes_a_stack_down():
    writes, lines = group_remove_plan.plan(STACK_GROUP, STACK)
    ids = {m: f["current"]["ID"] for m, f in STACK["members"].items()}
    left = STACK["leftovers"][f"{SPACE}_cache"]["current"]["ID"]
    assert [w.service_id for w in writes if isinstance(w, RemoveService)] == \
        [left, ids["web"], ids["db"]]
    assert [w.name for w in writes if isinstance(w, RemoveRecords)] == \
        [f"{SPACE}_cache", f"{SPACE}_web", f"{SPACE}_db"]
    # db's secret and config go with db, as `shipway remove` takes them: not twice
    assert [w.name for w in writes if isinstance(w, RemoveObjects)] == [f"{SPACE}_db"]
    records = [w for w in writes if isinstance(w, RemoveGroupRecords)]
    assert [(r.key, r.count) for r in records] == [(STACK["group"], 2)]
    stack_objects = [w for w in writes if isinstance(w, RemoveStackObject)]
    network = STACK["networks"][0]
    assert [(w.kind, w.object_id, w.name) for w in stack_objects] == \
        [("network", network["Id"], f"{SPACE}_back")]
    assert writes.index(stack_objects[0]) == len(writes) - 1   # once its users are gone
    assert lines[-1] == (f"volumes kept, as data: {SPACE}_data (docker volume rm removes "
                         "them)")
    assert f"remove network {SPACE}_back (stack {SPACE})" in lines
    assert "remove group release records #1, #2" in lines
    assert not [line for line in lines if "outside" in line]   # the external network


def test_what_the_stacks_label_does_not_name_is_never_touched():
    seen = copy.deepcopy(STACK)
    foreign = copy.deepcopy(seen["networks"][0])
    foreign.update(Id="f" * 25, Name="someone-elses", Labels={"zone": "edge"})
    seen["networks"].append(foreign)
    other = copy.deepcopy(foreign)
    other.update(Id="e" * 25, Name="other_back",
                 Labels={"com.docker.stack.namespace": "other"})
    seen["networks"].append(other)
    writes, lines = group_remove_plan.plan(STACK_GROUP, seen)
    names = [w.name for w in writes if isinstance(w, RemoveStackObject)]
    assert names == [f"{SPACE}_back"]
    assert not [line for line in lines if "someone-elses" in line or "other_back" in line]


def test_a_stack_object_no_member_took_is_removed_with_the_stack():
    seen = copy.deepcopy(STACK)
    seen["members"]["db"]["owned"] = []     # e.g. made by docker stack deploy
    writes, _ = group_remove_plan.plan(STACK_GROUP, seen)
    assert sorted((w.kind, w.name) for w in writes if isinstance(w, RemoveStackObject)) == [
        ("config", f"{SPACE}_db_conf_0a77502274"), ("network", f"{SPACE}_back"),
        ("secret", f"{SPACE}_db_token_6e1d948006")]


def test_a_catalog_group_a_member_never_deployed_is_a_line():
    writes, lines = group_remove_plan.plan(CATALOG_GROUP, CATALOG)
    assert kinds(writes) == [
        ("RemoveService", None), ("RemoveRecords", B), ("RemoveService", None),
        ("RemoveRecords", C), ("RemoveService", None), ("RemoveRecords", A),
        ("RemoveGroupRecords", CATALOG["group"])]
    assert lines[0] == f"group {CATALOG['group']}: remove every member, newest step first"
    assert lines[1] == f"{D} ({D}): no service and no release records: nothing to remove"
    assert f"{B}: remove service {B}" in lines
    assert not [line for line in lines if "volume" in line or "network" in line]
    assert group_remove_plan.notes(lines) == [lines[1]]    # the run says it too


def test_nothing_recorded_for_the_group_is_said():
    seen = copy.deepcopy(CATALOG)
    seen["group_records"] = []
    writes, lines = group_remove_plan.plan(CATALOG_GROUP, seen)
    assert not [w for w in writes if isinstance(w, RemoveGroupRecords)]
    assert f"group {CATALOG['group']} has no group release records" in lines
    assert group_remove_plan.notes(lines)[-1] == lines[-1]
