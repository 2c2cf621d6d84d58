"""The deploy plan (pipeline/swarm/plan.py) from recorded specs of real services.

tests/fixtures/deploy/cli-service.json is `docker service inspect` of a service made with the
docker CLI (constraint, memory limit, CPU reservation, secret, tmpfs mount, health interval, env
KEEP=1, label team=x, an overlay network, stop-first / pause update policy, grace period 3s);
cli-service-updated.json the same after `docker service update --image` (PreviousSpec set);
cli-global-service.json a global service (json-file logging with max-size and max-file, update
policy stop-first / pause / delay 2s, env KEEP=1, label team=x).
"""
import copy
import json
import os

import pytest

from pipeline import catalog
from pipeline.context import BuildInfo
from pipeline.errors import UsageError
from pipeline.swarm import compose
from pipeline.swarm import plan as planner
from pipeline.swarm import releases as history
from pipeline.swarm import spec as specs
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.plan import Action, Paused
from pipeline.swarm.writes import CreateService, UpdateService

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "deploy")
NEW = "127.0.0.1:5000/fixture/hello:3@sha256:" + "c" * 64
ENV = ("TaskTemplate", "ContainerSpec", "Env")
REPLICAS = ("Mode", "Replicated", "Replicas")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


def deploy_fields(image=NEW, build=None, release="r1", extra=None):
    labels = specs.deploy_labels(image, specs.digest_of(image), build or BuildInfo(), release)
    return {planner.IMAGE: image, **planner.label_fields(labels), **(extra or {})}


def without_shipway_labels(spec):
    out = copy.deepcopy(spec)
    out["Labels"] = {k: v for k, v in (out.get("Labels") or {}).items()
                     if not k.startswith("shipway.")}
    out["TaskTemplate"]["ContainerSpec"].pop("Image")
    return out


def test_an_image_change_keeps_every_field_of_a_cli_made_service():
    current = fixture("cli-service.json")
    plan = planner.plan_deploy("fx-web", current, deploy_fields(), managed=None)
    assert plan.action is Action.UPDATE
    assert plan.expect == Expectation(NEW, Follow.UPDATE, current["UpdateStatus"]["StartedAt"]
                                      if current.get("UpdateStatus") else None)
    [write] = plan.writes   # one compare-and-swap write, at the version read
    assert write == UpdateService(current["ID"], current["Version"]["Index"], plan.spec,
                                  doing=write.doing)
    assert write.doing.startswith("updating service fx-web: Labels[shipway.digest]: ")
    assert [planner.path_text(c.path) for c in plan.changes] == [
        "Labels[shipway.digest]", "Labels[shipway.image]", "TaskTemplate.ContainerSpec.Image"]
    assert without_shipway_labels(plan.spec) == without_shipway_labels(current["Spec"])
    assert plan.spec["Labels"]["team"] == "x"
    assert plan.spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["KEEP=1"]
    assert plan.spec["UpdateConfig"]["Order"] == "stop-first"
    assert plan.spec["UpdateConfig"]["FailureAction"] == "pause"
    assert plan.spec["TaskTemplate"]["Networks"] == current["Spec"]["TaskTemplate"]["Networks"]
    assert plan.spec["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 3_000_000_000
    assert plan.managed == []


def test_only_the_fields_asked_for_change():
    current = fixture("cli-service.json")
    fields = deploy_fields(extra={ENV: ["KEEP=1", "NEW=2"], REPLICAS: 3,
                              ("UpdateConfig", "Order"): "start-first"})
    plan = planner.plan_deploy("fx-web", current, fields, managed=[ENV, REPLICAS])
    paths = [planner.path_text(c.path) for c in plan.changes]
    assert paths == ["Labels[shipway.digest]", "Labels[shipway.image]", "Mode.Replicated.Replicas",
                     "TaskTemplate.ContainerSpec.Env", "TaskTemplate.ContainerSpec.Image",
                     "UpdateConfig.Order"]
    assert plan.spec["UpdateConfig"]["FailureAction"] == "pause"      # not asked: kept
    assert plan.managed == sorted([ENV, REPLICAS])
    lines = [c.line() for c in plan.changes]
    assert "Mode.Replicated.Replicas: 2 -> 3" in lines
    assert "UpdateConfig.Order: 'stop-first' -> 'start-first'" in lines


def test_a_field_the_catalog_no_longer_sets_goes_back_to_the_default():
    current = fixture("cli-service.json")
    limit = ("TaskTemplate", "Resources", "Limits", "MemoryBytes")
    plan = planner.plan_deploy("fx-web", current, deploy_fields(), managed=[],
                               last_managed=[list(limit), list(ENV)])
    removed = [c for c in plan.changes if c.new is None]
    assert [(planner.path_text(c.path), c.old) for c in removed] == [
        ("TaskTemplate.ContainerSpec.Env", ["KEEP=1"]),
        ("TaskTemplate.Resources.Limits.MemoryBytes", 67108864)]
    assert "Env" not in plan.spec["TaskTemplate"]["ContainerSpec"]
    assert "Limits" not in plan.spec["TaskTemplate"]["Resources"]   # empty maps go too
    assert plan.spec["TaskTemplate"]["Resources"]["Reservations"] == {"NanoCPUs": 100000000}
    assert "TaskTemplate.ContainerSpec.Env: ['KEEP=1'] -> (default)" in [
        c.line() for c in plan.changes]


def test_without_a_catalog_nothing_goes_back_and_the_list_carries_on():
    current = fixture("cli-service.json")
    plan = planner.plan_deploy("fx-web", current, deploy_fields(), managed=None,
                               last_managed=[list(ENV)])
    assert all(c.new is not None for c in plan.changes)
    assert plan.managed == [ENV]


def test_the_same_release_again_is_unchanged():
    current = fixture("cli-service-updated.json")
    image = current["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    fields = deploy_fields(image)
    for key in ("shipway.image", "shipway.digest"):   # as a shipway deploy would have left them
        current["Spec"]["Labels"][key] = fields[("Labels", key)]
    current["Spec"]["Labels"]["shipway.release"] = "older"
    current["Spec"]["Labels"]["shipway.deployed-at"] = "2020-01-01T00:00:00Z"
    plan = planner.plan_deploy("fx-web", current, fields, managed=None)
    assert plan.action is Action.UNCHANGED and plan.spec is None and plan.writes == []
    assert plan.expect == Expectation(image, Follow.TASKS)   # no write: no status of its own
    current["UpdateStatus"]["State"] = "paused"
    current["UpdateStatus"]["Message"] = "update paused due to failure"
    assert planner.plan_deploy("fx-web", current, fields).expect == \
        Paused("update paused due to failure")
    current["UpdateStatus"]["State"] = "updating"
    assert planner.plan_deploy("fx-web", current, fields).expect == \
        Expectation(image, Follow.UPDATE)


def test_a_stale_deploy_label_goes_and_label_only_changes_wait_on_tasks():
    current = fixture("cli-service-updated.json")
    image = current["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    current["Spec"]["Labels"].update({"shipway.image": image,
                                      "shipway.digest": specs.digest_of(image),
                                      "shipway.commit": "0ld0ld0"})
    plan = planner.plan_deploy("fx-web", current, deploy_fields(image), managed=None)
    assert [(planner.path_text(c.path), c.new) for c in plan.changes] == [
        ("Labels[shipway.commit]", None)]
    assert "shipway.commit" not in plan.spec["Labels"]
    assert plan.expect.follow is Follow.TASKS      # no task changes: swarm starts no update


def test_create_uses_the_defaults_under_what_was_asked():
    fields = deploy_fields(extra={("Mode", "Global"): {}, ENV: ["A=1"]})
    plan = planner.plan_deploy("new-svc", None, fields, defaults=specs.CREATE_DEFAULTS,
                               managed=[("Mode", "Global"), ENV])
    assert plan.action is Action.CREATE and plan.expect == Expectation(NEW, Follow.TASKS)
    assert plan.writes == [CreateService(plan.spec, doing=f"creating service new-svc with {NEW}")]
    assert plan.spec["Name"] == "new-svc"
    assert plan.spec["Mode"] == {"Global": {}}            # no Replicas mixed in
    assert plan.spec["UpdateConfig"]["Order"] == "start-first"
    assert plan.spec["UpdateConfig"]["FailureAction"] == "rollback"
    assert plan.spec["EndpointSpec"] == {"Mode": "dnsrr"}
    assert plan.spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1"]
    assert "shipway.commit" not in plan.spec["Labels"]    # None fields are not written
    listed = {planner.path_text(c.path): c.new for c in plan.changes}   # what a dry run shows
    assert listed["UpdateConfig.Order"] == "start-first" and listed["EndpointSpec.Mode"] == "dnsrr"
    assert listed["TaskTemplate.ContainerSpec.Env"] == ["A=1"]
    assert "Mode.Replicated.Replicas" not in listed       # dropped for the global mode asked for
    assert all(c.old is None for c in plan.changes)
    replicated = planner.plan_deploy("new-svc", None, deploy_fields(),
                                     defaults=specs.CREATE_DEFAULTS)
    assert replicated.spec["Mode"] == {"Replicated": {"Replicas": 1}}


def test_zero_values_equal_absent_ones():
    current = fixture("cli-service.json")
    fields = deploy_fields(extra={("UpdateConfig", "Delay"): 0,
                              ("TaskTemplate", "ContainerSpec", "Init"): False,
                              ("UpdateConfig", "MaxFailureRatio"): 0})
    paths = {c.path for c in planner.plan_deploy("fx-web", current, fields).changes}
    assert not paths & {("UpdateConfig", "Delay"), ("UpdateConfig", "MaxFailureRatio"),
                        ("TaskTemplate", "ContainerSpec", "Init")}


def test_dry_run_summary_is_before_and_after_per_path():
    current = fixture("cli-service.json")
    plan = planner.plan_deploy("fx-web", current, deploy_fields(extra={REPLICAS: 4}))
    summary = plan.summary()
    assert summary["action"] == "update"
    assert {"path": "Mode.Replicated.Replicas", "before": 2, "after": 4} in summary["changes"]
    json.dumps(summary)


def release(seq, rid, image="img@sha256:" + "a" * 64):
    return history.Release(seq=seq, id=rid, service="fx-web", image=image,
                           digest=specs.digest_of(image))


def test_rollback_after_adoption_restores_the_spec_from_before_shipway():
    service = fixture("cli-service-updated.json")
    service["Spec"]["Labels"]["shipway.release"] = "r1"
    ours = [release(1, "r1")]
    spec, what = history.before_shipway(service, ours, ours[0])
    assert spec == service["PreviousSpec"] and what == "the spec before shipway's first deploy"
    newer = release(2, "r2")
    assert history.before_shipway(service, ours + [newer], newer) is None   # not the oldest
    floor = release(0, "r0")
    assert history.before_shipway(service, [floor], floor) is None     # #0 is the floor
    service["PreviousSpec"]["Labels"]["shipway.release"] = "r1"          # our own spec: no
    assert history.before_shipway(service, ours, ours[0]) is None
    service["PreviousSpec"]["Labels"]["shipway.release"] = "pruned"      # a pruned release
    assert history.before_shipway(service, ours, ours[0])[1].startswith("swarm's previous spec")
    del service["PreviousSpec"]
    assert history.before_shipway(service, ours, ours[0]) is None


def from_catalog(entry):
    """The fields, managed paths and mode a catalog entry asks for (no networks, secrets)."""
    data = {"services": {"fx-web": {"image": "127.0.0.1:5000/fixture/hello", **entry}}}
    service = catalog.from_data(data).service("fx-web")["service"]
    conversion = compose.convert(service, name="fx-web", alias="fx-web", network_ids={},
                                 secret_refs={}, config_refs={}, base_dir="/")
    return conversion


def plan_entry(current, entry, last_managed=()):
    conversion = from_catalog(entry)
    return planner.plan_deploy("fx-web", current, deploy_fields(extra=conversion.fields),
                               managed=list(conversion.fields), last_managed=last_managed,
                               mode=conversion.mode)


def changed(plan):
    return {planner.path_text(c.path): (c.old, c.new) for c in plan.changes
            if not c.path[-1].startswith("shipway.") and c.path != planner.IMAGE}


def test_the_mode_alone_keeps_the_scale_of_an_adopted_service():
    current = fixture("cli-service.json")                    # replicated, 2 replicas
    plan = plan_entry(current, {"deploy": {"mode": "replicated"}})
    assert changed(plan) == {} and plan.spec["Mode"] == {"Replicated": {"Replicas": 2}}
    assert planner.plan_deploy("new", None, from_catalog({"deploy": {"mode": "replicated"}})
                               .fields, defaults=specs.CREATE_DEFAULTS, mode="replicated"
                               ).spec["Mode"] == {"Replicated": {"Replicas": 1}}   # a create
    glob = fixture("cli-global-service.json")
    assert changed(plan_entry(glob, {"deploy": {"mode": "global"}})) == {}


def test_one_policy_key_changes_that_field_only():
    current = fixture("cli-global-service.json")
    plan = plan_entry(current, {"deploy": {"update_config": {"parallelism": 2}}})
    assert changed(plan) == {"UpdateConfig.Parallelism": (1, 2)}
    assert plan.spec["UpdateConfig"] == {**current["Spec"]["UpdateConfig"], "Parallelism": 2}
    assert plan.spec["RollbackConfig"] == current["Spec"]["RollbackConfig"]
    plan = plan_entry(current, {"deploy": {"restart_policy": {"max_attempts": 3}}})
    assert changed(plan) == {"TaskTemplate.RestartPolicy.MaxAttempts": (0, 3)}
    assert plan.spec["TaskTemplate"]["RestartPolicy"]["Delay"] == 5_000_000_000


@pytest.mark.parametrize("fixture_name, entry", [
    ("cli-service.json", {"deploy": {"mode": "global"}}),
    ("cli-global-service.json", {"deploy": {"replicas": 3}}),
    ("cli-global-service.json", {"deploy": {"mode": "replicated"}}),
])
def test_a_mode_the_engine_cannot_change_to_is_refused(fixture_name, entry):
    current = fixture(fixture_name)
    with pytest.raises(UsageError) as caught:
        plan_entry(current, entry)
    assert caught.value.context["key"] == "deploy.mode"
    assert "cannot change a service's mode" in caught.value.message
    assert "deploy.mode: " in caught.value.hint


def test_dropping_mode_global_from_the_catalog_is_refused_not_sent():
    current = fixture("cli-global-service.json")
    for image in (NEW, current["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]):
        with pytest.raises(UsageError) as caught:
            planner.plan_deploy("fx-web", current, deploy_fields(image), managed=[],
                                last_managed=[["Mode", "Global"]])
        assert "global mode" in caught.value.message
    # a record of an earlier shipway that managed the whole Mode map: the new field covers it
    plan = plan_entry(current, {"deploy": {"mode": "global"}}, last_managed=[["Mode"]])
    assert changed(plan) == {} and plan.spec["Mode"] == {"Global": {}}


def test_log_options_follow_the_driver():
    current = fixture("cli-global-service.json")             # json-file, max-size, max-file
    options = current["Spec"]["TaskTemplate"]["LogDriver"]["Options"]
    plan = plan_entry(current, {"logging": {"options": {"max-size": "5m"}}})
    assert changed(plan) == {"TaskTemplate.LogDriver.Options": (options, {"max-size": "5m"})}
    assert plan.spec["TaskTemplate"]["LogDriver"]["Name"] == "json-file"      # kept
    plan = plan_entry(current, {"logging": {"driver": "json-file"}})        # same driver
    assert changed(plan) == {}
    plan = plan_entry(current, {"logging": {"driver": "local"}})            # another one
    assert changed(plan) == {"TaskTemplate.LogDriver.Name": ("json-file", "local"),
                             "TaskTemplate.LogDriver.Options": (options, None)}
    assert plan.spec["TaskTemplate"]["LogDriver"] == {"Name": "local"}


def test_a_key_set_under_a_map_the_catalog_set_whole_is_written_into_a_cleared_map():
    current = fixture("cli-service.json")
    health = ("TaskTemplate", "ContainerSpec", "Healthcheck")
    current["Spec"]["TaskTemplate"]["ContainerSpec"]["Healthcheck"] = {"Test": ["NONE"]}
    # the last deploy's catalog said `healthcheck: {disable: true}`; this one an interval
    plan = plan_entry(current, {"healthcheck": {"interval": "5s"}}, last_managed=[list(health)])
    assert plan.spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == {"Interval": 5 * 10 ** 9}
    assert changed(plan) == {
        "TaskTemplate.ContainerSpec.Healthcheck": ({"Test": ["NONE"]}, {"Interval": 5 * 10 ** 9}),
        "TaskTemplate.ContainerSpec.Healthcheck.Interval": (None, 5 * 10 ** 9)}
    # and the other way: a whole map set where the last deploy set one key under it
    plan = plan_entry(current, {"healthcheck": {"disable": True}},
                      last_managed=[list(health + ("Interval",))])
    assert plan.spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == {"Test": ["NONE"]}
    assert changed(plan) == {}


@pytest.mark.parametrize("have,want,same", [
    (["B=2", "A=1"], ["A=1", "B=2"], True),          # another order: the same environment
    (["A=1", "B=2"], ["A=1", "B=3"], False),         # another value
    (["A=1", "A=2"], ["A=2", "A=1"], False),         # a name twice: the last one wins
    (["A=1"], ["A=1", "B=2"], False),
    (None, ["A=1"], False),
])
def test_env_in_another_order_is_no_change(have, want, same):
    current = fixture("cli-service.json")
    current["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] = have
    fields = deploy_fields(image=current["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
                           extra={ENV: want})
    fields.update({p: planner.get(current["Spec"], p) for p in fields if p[0] == "Labels"})
    plan = planner.plan_deploy("fx-web", current, fields, managed=None)
    assert (plan.action is Action.UNCHANGED) is same, [c.line() for c in plan.changes]
    if not same:
        assert plan.spec["TaskTemplate"]["ContainerSpec"]["Env"] == want


def test_a_deploy_that_changes_the_image_keeps_the_order_of_an_equal_env():
    current = fixture("cli-service.json")
    current["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] = ["B=2", "A=1"]
    plan = planner.plan_deploy("fx-web", current, deploy_fields(extra={ENV: ["A=1", "B=2"]}),
                               managed=None)
    assert plan.action is Action.UPDATE and ENV not in [c.path for c in plan.changes]
    assert plan.spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["B=2", "A=1"]
