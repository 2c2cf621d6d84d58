"""The deploy engine's other plans and its executor, from recorded specs of real services
(tests/fixtures/deploy, see test_deploy_plan.py): rollback and remove plans, the canary's
first write, the one retry policy for a write swarm refuses as out of sequence."""
import copy
import json
import os

import pytest

from pipeline.analysis import Config
from pipeline.api import engine
from pipeline.context import BuildInfo
from pipeline.errors import EngineError, NothingToRollBack, UsageError
from pipeline.swarm import canary, execute
from pipeline.swarm import plan as planner
from pipeline.swarm import releases as history
from pipeline.swarm import spec as specs
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.rollback_plan import Note, plan_remove, plan_rollback
from pipeline.swarm.writes import (
    LabelRelease,
    RemoveObjects,
    RemoveRecords,
    RemoveService,
    UpdateService,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "deploy")
NEW = "127.0.0.1:5000/fixture/hello:3@sha256:" + "c" * 64


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


def refused(text):
    exc = Exception(text)
    exc.status_code = 500
    return engine.Refused(exc)


def test_a_write_refused_out_of_sequence_is_read_planned_and_written_again():
    said, calls = [], []

    def step():
        calls.append(1)
        if len(calls) < 3:
            raise refused("update out of sequence")
        return "written"

    assert execute.retried(step, said.append) == "written"
    assert len(calls) == 3 and len(said) == 2
    assert said[0].startswith("the service changed meanwhile (update out of sequence)")


def test_another_refusal_or_the_last_out_of_sequence_is_one_engine_error():
    calls = []

    def always():
        calls.append(1)
        raise refused("update out of sequence")

    with pytest.raises(EngineError) as caught:
        execute.retried(always)
    assert len(calls) == execute.ATTEMPTS
    assert caught.value.message.startswith("the engine refused the service change")
    calls.clear()

    def other():
        calls.append(1)
        raise refused("invalid mount config")

    with pytest.raises(EngineError, match="invalid mount config"):
        execute.retried(other)
    assert len(calls) == 1


def test_a_new_object_id_is_filled_in_where_the_plan_named_it_new():
    spec = fixture("cli-service.json")["Spec"]
    old = spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]
    new = {**old, "SecretID": execute.NEW_ID, "SecretName": "fx_db_0123456789"}
    spec["TaskTemplate"]["ContainerSpec"]["Secrets"] = [old, new]
    filled = execute.with_ids(spec, {("secret", "fx_db_0123456789"): "id-made"})
    assert filled["TaskTemplate"]["ContainerSpec"]["Secrets"] == [old, {**new,
                                                                       "SecretID": "id-made"}]
    assert spec["TaskTemplate"]["ContainerSpec"]["Secrets"][1]["SecretID"] == execute.NEW_ID
    assert execute.with_ids(fixture("cli-service.json")["Spec"], {}) == \
        fixture("cli-service.json")["Spec"]


def release(seq, rid, spec, image):
    return history.Release(seq=seq, id=rid, service="fx-web", image=image,
                           digest=specs.digest_of(image), spec=spec)


def test_rollback_is_a_write_of_the_release_spec_at_the_version_read():
    service = fixture("cli-service-updated.json")
    older = copy.deepcopy(service["PreviousSpec"])
    older["Labels"]["shipway.release"] = "r1"
    service["Spec"]["Labels"]["shipway.release"] = "r2"
    ours = [release(2, "r2", service["Spec"], specs.image_of(service["Spec"])),
            release(1, "r1", older, specs.image_of(older))]
    plan = plan_rollback("fx-web", service, ours, None, {})
    assert plan.action == "rollback" and plan.target is ours[1]
    assert plan.writes == [UpdateService(service["ID"], service["Version"]["Index"], older,
                                         doing=plan.writes[0].doing)]
    assert plan.expect == Expectation(specs.image_of(older), Follow.UPDATE,
                                      (service.get("UpdateStatus") or {}).get("StartedAt"))
    back = plan_rollback("fx-web", service, ours, "#2", {})
    assert back.action == "unchanged" and back.writes == []
    assert back.note == "service fx-web already runs release #2"


def test_a_rollback_notes_who_and_why_on_the_record_of_the_release_it_leaves():
    service = fixture("cli-service-updated.json")
    older = copy.deepcopy(service["PreviousSpec"])
    older["Labels"]["shipway.release"] = "r1"
    service["Spec"]["Labels"]["shipway.release"] = "r2"
    ours = [release(2, "r2", service["Spec"], specs.image_of(service["Spec"])),
            release(1, "r1", older, specs.image_of(older))]
    note = Note(at="2026-12-06T03:00:00Z", by="alice", reason="500s on /login")
    plan = plan_rollback("fx-web", service, ours, None, {}, note)
    assert plan.source is ours[0]
    assert plan.after == [LabelRelease(ours[0], {
        "shipway.release.rolled-back-at": "2026-12-06T03:00:00Z",
        "shipway.release.rolled-back-by": "alice",
        "shipway.release.rolled-back-reason": "500s on /login",
        "shipway.release.rolled-back-to": "#1"},
        done="release #2 recorded as rolled back by alice (500s on /login)")]
    # The plan's writes are the same: the note is written once the rollback ran healthy.
    assert plan.writes == plan_rollback("fx-web", service, ours, None, {}).writes
    assert plan_rollback("fx-web", service, ours, None, {}).after == []
    assert plan_rollback("fx-web", service, ours, "#2", {}, note).after == []   # unchanged
    service["Spec"]["Labels"]["shipway.release"] = "unrecorded"
    assert plan_rollback("fx-web", service, ours, None, {}, note).after == []   # no source


def test_without_history_rollback_is_swarms_own_and_refusals_name_the_service():
    service = fixture("cli-service-updated.json")
    plan = plan_rollback("fx-web", service, [], None, {})
    [write] = plan.writes
    assert write.rollback and write.spec == service["Spec"]
    assert plan.expect.follow is Follow.ROLLBACK
    assert plan.lines == [f"roll back service fx-web: {specs.image_of(service['Spec'])} -> "
                          f"{specs.image_of(service['PreviousSpec'])}"]
    with pytest.raises(NothingToRollBack, match="no recorded releases to pick '#3'"):
        plan_rollback("fx-web", service, [], "#3", {})
    with pytest.raises(NothingToRollBack, match="no previous spec"):
        plan_rollback("fx-web", fixture("cli-service.json"), [], None, {})
    with pytest.raises(UsageError, match="there is no service fx-web"):
        plan_rollback("fx-web", None, [], None, {})


def test_a_rollback_past_the_first_release_restores_the_spec_from_before_shipway():
    service = fixture("cli-service-updated.json")
    service["Spec"]["Labels"]["shipway.release"] = "r1"
    ours = [release(1, "r1", service["Spec"], specs.image_of(service["Spec"]))]
    labels = {"shipway.release": "r0", "shipway.image": "x"}
    plan = plan_rollback("fx-web", service, ours, None, labels, Note(at="t", by="bob"))
    assert plan.record_seq == 0 and plan.target is None
    assert plan.after[0].labels["shipway.release.rolled-back-to"] == "#0"
    [write] = plan.writes
    assert write.spec["Labels"]["shipway.release"] == "r0"
    assert write.spec["TaskTemplate"] == service["PreviousSpec"]["TaskTemplate"]


def test_remove_plans_the_service_its_records_and_its_objects():
    service = fixture("cli-service.json")
    ours = [release(1, "r1", service["Spec"], "img")]
    writes, lines = plan_remove("fx-web", service, ours, [("secret", "fx_a_1")])
    assert [type(w) for w in writes] == [RemoveService, RemoveRecords, RemoveObjects]
    assert lines == ["remove service fx-web", "remove release #1 record (img)",
                     "remove secret fx_a_1"]
    with pytest.raises(UsageError, match="no release history"):
        plan_remove("fx-web", None, [], [])


def test_the_canary_first_write_is_in_the_plan_and_the_dry_run():
    current = fixture("cli-service.json")   # 2 replicas, parallelism 1
    labels = specs.deploy_labels(NEW, specs.digest_of(NEW), BuildInfo(), "r1")
    fields = {planner.IMAGE: NEW, **planner.label_fields(labels)}
    plan = planner.plan_deploy("fx-web", current, fields)
    config = Config(prometheus="http://p", checks=[], canary=30.0)
    judged = canary.first_write(plan, config, 60.0)
    assert judged.batch == 1 and judged.changes == plan.changes
    [write] = judged.writes
    assert write.spec["UpdateConfig"]["Delay"] == (30 + 120 + 60) * 10 ** 9
    assert write.doing.splitlines()[0].startswith("analysis: updating a first batch of 1")
    own = json.dumps(current["Spec"]["UpdateConfig"], sort_keys=True, separators=(",", ":"))
    assert judged.summary()["first_write"]["changes"] == [
        {"path": "UpdateConfig.Delay", "before": None, "after": 210 * 10 ** 9},
        {"path": "Labels[shipway.held-update-config]", "before": None, "after": own}]
    assert judged.lines("fx-web", NEW)[-3] == "  UpdateConfig.Delay: (none) -> 210s"
    assert judged.lines("fx-web", NEW)[-1] == (
        "analysis: once the canary passed, written again with the update policy above "
        "(the rest)")
    assert plan.writes[0].spec["UpdateConfig"] == current["Spec"]["UpdateConfig"]
    # the second write: the service as read then, with the user's own policy again
    [rest] = judged.then
    service = {**current, "Spec": write.spec}
    second = canary.rest_write(rest, service)
    assert second.spec["UpdateConfig"] == current["Spec"]["UpdateConfig"]
    assert specs.HELD_LABEL not in second.spec["Labels"]
    # `shipway continue` finds the same rest in what the service holds, with who approved
    later = canary.held_rest(service, {"shipway.approved-by": "ops"})
    assert later.update_config == rest.update_config and later.image == rest.image
    assert canary.rest_write(later, service).spec["Labels"]["shipway.approved-by"] == "ops"
    assert canary.held_rest({"Spec": second.spec}) is None
    assert second.version == current["Version"]["Index"]
    replaced = {**current, "Spec": {**write.spec, "TaskTemplate": current["Spec"]["TaskTemplate"]}}
    assert canary.rest_write(rest, replaced).reason == \
        "another change to the service replaced this one"
