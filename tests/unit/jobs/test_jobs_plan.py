"""Planning: catalog items vs Jenkins' items -> create/update/unchanged/delete/fail."""
import re
from dataclasses import dataclass

import pytest

from pipeline.jobs import plan
from pipeline.jobs.client import LiveItem

OURS = "demo"


@dataclass(frozen=True)
class JobItem:
    """Stand-in for pipeline.render.JobItem (same fields)."""

    path: str
    kind: str
    service: str
    config_xml: str


def folder_xml(owner=OURS, extra=""):
    mark = f"\n[shipway-catalog={owner}]" if owner else ""
    return (f"<com.cloudbees.hudson.plugins.folder.Folder plugin='cloudbees-folder'>"
            f"<description>folder{mark}</description>{extra}"
            f"</com.cloudbees.hudson.plugins.folder.Folder>")


def job_xml(owner=OURS, script="echo hi", plugin="workflow-job"):
    mark = f"\n[shipway-catalog={owner}]" if owner else ""
    return (f"<?xml version='1.1' encoding='UTF-8'?><flow-definition plugin='{plugin}'>"
            f"<description>job{mark}</description><script>{script}</script></flow-definition>")


def owner_of(xml):
    found = re.findall(r"\[shipway-catalog=([a-z0-9-]+)\]", xml)
    return found[-1] if found else None


def live(path, xml=None, group=False):
    description = ""
    if xml is not None:
        match = re.search(r"<description>(.*?)</description>", xml, re.S)
        description = match.group(1) if match else ""
    return LiveItem(path, "x", description, group)


def make(desired, jenkins, errors=None, prune=False, adopt=False):
    """`jenkins` maps path -> (config.xml, is_group)."""
    items = {path: live(path, xml, group) for path, (xml, group) in jenkins.items()}
    desired_paths = {d.path for d in desired}
    wanted = [p for p in items if p in desired_paths]
    wanted += plan.prune_candidates(items, desired_paths, f"[shipway-catalog={OURS}]")
    configs = {p: jenkins[p][0] for p in wanted if p not in (errors or {})}
    return plan.make_plan(desired, items, configs, errors or {}, catalog_name=OURS,
                          owner_of=owner_of, prune=prune, adopt=adopt)


FOLDER = JobItem("demo", "folder", None, folder_xml())
JOB = JobItem("demo/hello", "pipeline", "hello", job_xml())

# (name, desired item, what Jenkins holds at its path (None: nothing), flags, op, reason part)
SINGLE_ITEM_CASES = [
    ("missing job is created", JOB, None, {}, plan.CREATE, "missing"),
    ("missing folder is created", FOLDER, None, {}, plan.CREATE, "missing"),
    ("same job is unchanged", JOB, job_xml(), {}, plan.UNCHANGED, ""),
    ("plugin version differs only", JOB, job_xml(plugin="workflow-job@1.2"), {},
     plan.UNCHANGED, ""),
    ("edited job is drift", JOB, job_xml(script="echo edited"), {}, plan.UPDATE, "drift"),
    ("edited folder is drift", FOLDER, folder_xml(extra="<x/>"), {}, plan.UPDATE, "drift"),
    ("job of another catalog is refused", JOB, job_xml(owner="other"), {}, plan.FAIL,
     "owned by catalog 'other'"),
    ("other catalog's job refused even with --adopt", JOB, job_xml(owner="other"),
     {"adopt": True}, plan.FAIL, "owned by catalog 'other'"),
    ("unmarked job is refused", JOB, job_xml(owner=None), {}, plan.FAIL, "--adopt"),
    ("unmarked job is adopted with --adopt", JOB, job_xml(owner=None), {"adopt": True},
     plan.UPDATE, "adopted"),
    ("unmarked folder is used as it is", FOLDER, folder_xml(owner=None), {}, plan.UNCHANGED,
     "folder kept"),
    ("other catalog's folder is used as it is", FOLDER, folder_xml(owner="other"), {},
     plan.UNCHANGED, "owned by catalog 'other'"),
    ("folder where a job is wanted", JOB, folder_xml(), {}, plan.FAIL,
     "is a <com.cloudbees.hudson.plugins.folder.Folder> in Jenkins"),
    ("job where a folder is wanted", FOLDER, job_xml(), {}, plan.FAIL,
     "catalog renders a <com.cloudbees.hudson.plugins.folder.Folder>"),
    ("live config that does not parse", JOB, "<flow-definition>", {}, plan.FAIL,
     "does not parse"),
]


@pytest.mark.parametrize("name,item,held,flags,op,reason", SINGLE_ITEM_CASES,
                         ids=[c[0] for c in SINGLE_ITEM_CASES])
def test_single_item(name, item, held, flags, op, reason):
    jenkins = {} if held is None else {item.path: (held, "Folder" in held)}
    if item.path != "demo":
        jenkins["demo"] = (folder_xml(), True)
    desired = [FOLDER, item] if item.path != "demo" else [item]
    actions = {a.path: a for a in make(desired, jenkins, **flags)}
    action = actions[item.path]
    assert action.op == op
    assert reason in action.reason
    if op == plan.UPDATE:
        assert action.diff().startswith("--- jenkins/")
    if op == plan.CREATE:
        assert action.diff().startswith("--- /dev/null")


def test_unreadable_config_fails_that_item_only():
    actions = make([FOLDER, JOB], {"demo": (folder_xml(), True), "demo/hello": (job_xml(), False)},
                   errors={"demo/hello": "Jenkins answered 500 to read demo/hello/config.xml"})
    ops = {a.path: a.op for a in actions}
    assert ops == {"demo": plan.UNCHANGED, "demo/hello": plan.FAIL}


def test_item_listed_but_gone_when_read_is_created():
    items = {"demo/hello": live("demo/hello", job_xml())}
    actions = plan.make_plan([JOB], items, {"demo/hello": None}, {}, catalog_name=OURS,
                             owner_of=owner_of)
    assert actions[0].op == plan.CREATE


JENKINS_WITH_LEFTOVERS = {
    "demo": (folder_xml(), True),
    "demo/hello": (job_xml(), False),
    "demo/old": (job_xml(), False),                       # ours, no longer rendered
    "demo/old-rollback": (job_xml(), False),              # ours, no longer rendered
    "demo/manual": (job_xml(owner=None), False),          # made by hand
    "demo/theirs": (job_xml(owner="other"), False),       # another catalog's
    "gone": (folder_xml(), True),                         # our folder, all of it leftovers
    "gone/sub": (folder_xml(), True),
    "gone/sub/x": (job_xml(), False),
    "mixed": (folder_xml(), True),                        # our folder with a foreign job in it
    "mixed/y": (job_xml(), False),
    "mixed/foreign": (job_xml(owner=None), False),
}


def test_prune_deletes_only_owned_leftovers_children_first():
    actions = make([FOLDER, JOB], JENKINS_WITH_LEFTOVERS, prune=True)
    ops = [(a.path, a.op) for a in actions]
    deletes = [path for path, op in ops if op == plan.DELETE]
    assert sorted(deletes) == ["demo/old", "demo/old-rollback", "gone", "gone/sub",
                               "gone/sub/x", "mixed/y"]
    # Children before their folders.
    assert deletes.index("gone/sub/x") < deletes.index("gone/sub") < deletes.index("gone")
    kept = {a.path: a for a in actions if a.op == plan.ORPHAN}
    assert list(kept) == ["mixed"]
    assert "mixed/foreign" in kept["mixed"].reason
    assert all(path not in dict(ops) for path in ("demo/manual", "demo/theirs",
                                                  "mixed/foreign"))
    assert plan.counts(actions) == {"created": 0, "updated": 0, "unchanged": 2, "pruned": 6,
                                    "failed": 0}


def test_without_prune_leftovers_are_only_reported():
    actions = make([FOLDER, JOB], JENKINS_WITH_LEFTOVERS)
    assert not [a for a in actions if a.op == plan.DELETE]
    assert {a.path for a in actions if a.op == plan.ORPHAN} >= {"demo/old", "gone/sub/x"}
    assert plan.counts(actions)["pruned"] == 0


def test_leftover_whose_config_cannot_be_read_fails_and_keeps_its_folder():
    jenkins = {"gone": (folder_xml(), True), "gone/x": (job_xml(), False)}
    actions = make([FOLDER], jenkins, errors={"gone/x": "boom"}, prune=True)
    ops = {a.path: a.op for a in actions}
    assert ops == {"demo": plan.CREATE, "gone/x": plan.FAIL, "gone": plan.ORPHAN}


def test_description_marker_without_owner_in_config_is_not_pruned():
    # The listing says ours, the config (authoritative) names another catalog.
    items = {"x": LiveItem("x", "x", "[shipway-catalog=demo]", False)}
    actions = plan.make_plan([], items, {"x": job_xml(owner="other")}, {}, catalog_name=OURS,
                             owner_of=owner_of, prune=True)
    assert actions == []


@pytest.mark.parametrize("op,live_xml,owner,state", [
    (plan.CREATE, None, None, "missing"),
    (plan.UNCHANGED, "x", OURS, "present"),
    (plan.UPDATE, "x", OURS, "drifted"),
    (plan.UNCHANGED, "x", "other", "owned-by-other"),
    (plan.FAIL, "x", None, "owned-by-other"),
    (plan.FAIL, None, None, "error"),
    (plan.FAIL, "x", OURS, "error"),
    (plan.ORPHAN, "x", OURS, "orphaned"),
    (plan.DELETE, "x", OURS, "orphaned"),
])
def test_list_states(op, live_xml, owner, state):
    assert plan.Action(op, "p", "job", live=live_xml, owner=owner).state(OURS) == state


def test_parent_of():
    assert plan.parent_of("a/b/c") == "a/b"
    assert plan.parent_of("a") == ""
