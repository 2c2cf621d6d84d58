"""The whole deploy plan (pipeline/swarm/deploy_plan.py) of a request against what was read,
from the recorded specs of tests/fixtures/deploy (see test_deploy_plan.py): the secrets to
create come first in the plan and a dry run shows them, the networks are resolved or refused,
and every refusal comes before any write."""
import json
import os

import pytest

from pipeline import catalog
from pipeline.context import BuildInfo
from pipeline.errors import CatalogError, UsageError
from pipeline.swarm import deploy_plan, execute, objects
from pipeline.swarm import spec as specs
from pipeline.swarm.deploy_read import Reading
from pipeline.swarm.plan import Action
from pipeline.swarm.request import DeployRequest
from pipeline.swarm.writes import CreateNamingKey, CreateObject, UpdateService

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "deploy")
NEW = "127.0.0.1:5000/fixture/hello:3@sha256:" + "c" * 64
SECRETS = ("TaskTemplate", "ContainerSpec", "Secrets")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


def request_for(tmp_path, entry, top=None, catalog_path="c.yml"):
    (tmp_path / "pw.txt").write_text("s3cret")
    data = {"services": {"fx-web": {"image": "127.0.0.1:5000/fixture/hello", **entry}},
            **(top or {})}
    settings = catalog.from_data(data, path=str(tmp_path / "c.yml")).service("fx-web")
    return DeployRequest("fx-web", NEW, settings["service"],
                         catalog_keys=settings["service"], catalog=catalog_path,
                         definitions=settings["definitions"], base_dir=str(tmp_path),
                         environ={}, build=BuildInfo())


def labels():
    return specs.deploy_labels(NEW, specs.digest_of(NEW), BuildInfo(), "r1")


def wanted(request, key=b"k"):
    return objects.plan("fx-web", "secret", request.definitions["secrets"], ["pw"],
                        request.base_dir, {}, key=key)


def test_a_new_secret_is_created_first_and_the_spec_names_it_until_made(tmp_path):
    request = request_for(tmp_path, {"secrets": ["pw"]},
                          {"secrets": {"pw": {"file": "pw.txt"}}})
    items = wanted(request)
    current = fixture("cli-service.json")
    plan = deploy_plan.plan_request(request, Reading(current, [], wanted=items), labels())
    assert plan.action is Action.UPDATE
    assert [type(w) for w in plan.writes] == [CreateObject, UpdateService]
    assert plan.writes[0].wanted == items[0]
    [ref] = plan.spec["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert ref["SecretID"] == execute.NEW_ID and ref["SecretName"] == items[0].name
    lines = plan.lines("fx-web", NEW)
    assert lines[0] == (
        f"create secret {items[0].name} for 'pw' from file {tmp_path / 'pw.txt'}")
    assert plan.summary()["objects"] == [items[0].summary()]
    assert "s3cret" not in repr(plan) and "s3cret" not in json.dumps(plan.summary())
    # made already: referred to by its id, nothing to create, said to be reused
    found = {("secret", items[0].name): "sid"}
    again = deploy_plan.plan_request(request, Reading(current, [], wanted=items, found=found),
                                     labels())
    assert [type(w) for w in again.writes] == [UpdateService]
    assert again.spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == "sid"
    assert again.notes == [f"secret {items[0].name} for 'pw' exists: reused"]


def test_without_the_naming_key_it_is_made_first(tmp_path):
    request = request_for(tmp_path, {"secrets": ["pw"]},
                          {"secrets": {"pw": {"file": "pw.txt"}}})
    plan = deploy_plan.plan_request(request, Reading(None, [], has_key=False,
                                                     wanted=wanted(request, b"dry-run")),
                                    labels())
    assert [type(w) for w in plan.writes][:2] == [CreateNamingKey, CreateObject]
    assert plan.lines("fx-web", NEW)[0] == \
        "create config shipway-object-key (the key of secret names)"


def test_a_missing_network_or_external_secret_is_refused_naming_the_catalog_key(tmp_path):
    request = request_for(tmp_path, {"networks": ["backend"]})
    reading = Reading(fixture("cli-service.json"), [], networks={"backend": None})
    with pytest.raises(CatalogError) as caught:
        deploy_plan.plan_request(request, reading, labels())
    assert caught.value.context["key"] == "networks"
    assert "network 'backend' does not exist" in caught.value.message
    reading.networks["backend"] = "nid"
    plan = deploy_plan.plan_request(request, reading, labels())
    assert plan.spec["TaskTemplate"]["Networks"][0]["Target"] == "nid"
    request = request_for(tmp_path, {"secrets": ["ext"]},
                          {"secrets": {"ext": {"external": True}}}, catalog_path=None)
    with pytest.raises(UsageError) as caught:
        deploy_plan.plan_request(request, Reading(None, [], wanted=objects.plan(
            "fx-web", "secret", request.definitions["secrets"], ["ext"], ".", {}, key=b"k")),
            labels())
    assert caught.value.message.startswith("secrets: external secret 'ext'")


def test_a_mode_change_is_refused(tmp_path):
    # (a job service is deployed: tests/unit/swarm/test_job_plan.py)
    with pytest.raises(CatalogError) as caught:
        deploy_plan.plan_request(request_for(tmp_path, {"deploy": {"mode": "global"}}),
                                 Reading(fixture("cli-service.json"), []), labels())
    assert caught.value.context["key"] == "deploy.mode"
