"""The plan of `shipway promote`, from what the lab's engine showed of the environment promoted
from in each state it must tell apart (tests/fixtures/promote/*.json, made by
tests/fixtures/promote/record.py): the release to promote, the copy, or the refusal."""
import copy
import json
import os

import pytest

from pipeline.errors import EXIT_FAILED, PromotionRefused
from pipeline.swarm import promote_plan
from pipeline.swarm.promote_read import Source
from pipeline.swarm.releases import Release

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "fixtures", "promote")
LAB = "127.0.0.1:5000/test/promote-fixture"


def source(case):
    with open(os.path.join(FIXTURES, f"{case}.json"), encoding="utf-8") as handle:
        doc = json.load(handle)
    return Source(doc["name"], doc["service"], doc["tasks"],
                  [Release(**record) for record in doc["releases"]])


def plan(reading, repository="10.210.0.1:5001/test/promote-fixture"):
    return promote_plan.plan("hello", "staging", "production", reading, repository,
                             "hello-prod")


def refusal(reading):
    with pytest.raises(PromotionRefused) as caught:
        plan(reading)
    assert caught.value.exit_code == EXIT_FAILED
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize("case", ["released", "settling"])
def test_the_running_release_is_promoted(case):
    reading = source(case)
    promotion = plan(reading)
    assert promotion.release.seq == 2
    assert promotion.digest == reading.service["Spec"]["Labels"]["shipway.digest"]
    assert promotion.release.image == f"{LAB}:v2@{promotion.digest}"
    # production pulls from its own registry: the same digest, copied there first
    assert promotion.image == f"10.210.0.1:5001/test/promote-fixture:v2@{promotion.digest}"
    assert promotion.copy.source == f"{LAB}@{promotion.digest}"
    assert promotion.copy.destination == "10.210.0.1:5001/test/promote-fixture:v2"
    assert (promotion.copy.source_registry, promotion.copy.destination_registry) == \
        ("127.0.0.1:5000", "10.210.0.1:5001")


def test_settling_is_swarm_idling_its_last_delay_not_an_update_to_wait_for():
    reading = source("settling")
    assert reading.service["UpdateStatus"]["State"] == "updating"
    assert promote_plan.mid_update(reading.service, reading.tasks,
                                   reading.service["Spec"]["TaskTemplate"]["ContainerSpec"]
                                   ["Image"]) == ""


def test_the_same_repository_is_no_copy():
    promotion = plan(source("released"), LAB)
    assert promotion.copy is None
    assert promotion.image == promotion.release.image
    assert promotion.lines()[1] == f"no copy: production pulls {LAB}, as staging does"


def test_a_target_without_its_own_image_pulls_the_source_repository():
    assert plan(source("released"), None).copy is None


def test_another_repository_on_the_same_registry_is_a_copy():
    promotion = plan(source("released"), "127.0.0.1:5000/prod/promote-fixture")
    assert promotion.copy.destination == "127.0.0.1:5000/prod/promote-fixture:v2"


def test_a_release_without_a_tag_is_copied_under_one_derived_from_its_digest():
    reading = source("released")
    running = reading.releases[0]
    tagged, running.image = running.image, running.image.replace(":v2@", "@")
    for spec in [reading.service["Spec"]["TaskTemplate"]] + [t["Spec"] for t in reading.tasks]:
        if spec["ContainerSpec"]["Image"] == tagged:
            spec["ContainerSpec"]["Image"] = running.image
    promotion = plan(reading)
    hexdigits = promotion.digest.split(":")[1]
    assert promotion.copy.destination == f"10.210.0.1:5001/test/promote-fixture:sha256-{hexdigits}"
    assert promotion.image == f"10.210.0.1:5001/test/promote-fixture:sha256-{hexdigits}" \
                              f"@{promotion.digest}"


def test_no_service_is_no_release():
    text = refusal(Source("hello-staging", None))
    assert text.startswith("staging runs no release of hello: there is no service "
                           "hello-staging there")
    assert "shipway deploy --environment staging --service hello" in text


def test_a_service_shipway_never_deployed_runs_no_release():
    text = refusal(source("unrecorded"))
    assert "staging runs no shipway release of hello" in text
    assert "not a release shipway recorded" in text


def test_an_image_changed_outside_shipway_is_no_release():
    text = refusal(source("outside"))
    assert "staging runs no shipway release of hello" in text
    assert "not release #1's image (changed outside shipway)" in text


def test_an_update_in_progress_is_mid_update():
    text = refusal(source("updating"))
    assert "staging is mid-update" in text
    assert "is updating: 1 of 2 replicas run " in text and "1 task of another image" in text
    assert "wait until it is done" in text


def test_a_paused_update_is_mid_update_and_waits_for_someone():
    text = refusal(source("paused"))
    assert "staging is mid-update" in text and "has its update paused (update paused due " \
        "to failure" in text
    assert "deploy to staging again or roll it back" in text


def test_a_rollback_in_progress_is_mid_update():
    reading = source("swarm-rolled-back")
    reading.service["UpdateStatus"]["State"] = "rollback_started"
    assert "is being rolled back by swarm" in refusal(reading)


def test_swarm_rolled_back_is_refused():
    text = refusal(source("swarm-rolled-back"))
    assert "staging runs release #1 of hello after a rollback: swarm rolled back its last " \
           "update" in text
    assert "deploy a fixed build to staging" in text


def test_shipway_rolled_back_is_refused():
    text = refusal(source("rolled-back"))
    assert "after a rollback: release #2 " in text and "is newer and was rolled back (to #1)" \
        in text


def test_a_failed_analysis_rolled_back_is_refused():
    reading = source("analysis-rolled-back")
    assert [r.seq for r in reading.releases] == [1]     # the failed release was not recorded
    text = refusal(reading)
    assert "after a rollback: a newer deploy of " in text
    assert "did not end healthy, and shipway put this release back" in text


def test_an_older_pruned_previous_spec_is_no_rollback():
    """PreviousSpec names a release no longer recorded that is older: the history was
    pruned, nothing was rolled back."""
    reading = source("released")
    previous = reading.service["PreviousSpec"]
    previous["Labels"] = {**previous["Labels"], "shipway.release": "gone",
                          "shipway.deployed-at": "2020-01-01T00:00:00Z"}
    reading.releases = reading.releases[:1]
    assert plan(reading).release.seq == 2


def test_the_plan_reads_without_changing_what_it_was_given():
    reading = source("released")
    before = copy.deepcopy((reading.service, reading.tasks))
    plan(reading)
    assert (reading.service, reading.tasks) == before


def test_the_summary_and_the_dry_run_lines():
    promotion = plan(source("released"))
    summary = promotion.summary()
    assert summary["from"] == "staging" and summary["to"] == "production"
    assert summary["release"]["seq"] == 2 and summary["digest"] == promotion.digest
    assert summary["copy"] == {"source": promotion.copy.source,
                               "destination": promotion.copy.destination}
    assert promotion.lines()[0].startswith(
        f"promote release #2 of {source('released').name} in staging (")
    assert promotion.lines()[1] == (f"copy {promotion.copy.source} to "
                                    f"{promotion.copy.destination} (the same digest)")


# --- which registries an engine talks to without TLS (GET /info RegistryConfig) ----------
LAB_INFO = {"IndexConfigs": {"docker.io": {"Name": "docker.io", "Secure": True},
                             "10.210.0.1:5001": {"Name": "10.210.0.1:5001", "Secure": False}},
            "InsecureRegistryCIDRs": ["127.0.0.0/8"]}   # the multi-node lab's m1


@pytest.mark.parametrize("registry, addresses, insecure", [
    ("10.210.0.1:5001", ["10.210.0.1"], True),          # --insecure-registry
    ("127.0.0.1:5000", ["127.0.0.1"], True),            # 127.0.0.0/8, the default
    ("localhost:5000", ["127.0.0.1", "::1"], True),
    ("registry.example:5000", ["192.0.2.7"], False),
    ("registry.example:5000", [], False),               # does not resolve: secure
    ("docker.io", ["127.0.0.1"], False),                # its IndexConfigs entry decides
])
def test_insecure_registries_as_the_engine_decides(registry, addresses, insecure):
    assert promote_plan.insecure(LAB_INFO, registry, addresses) is insecure


def test_insecure_cidrs_of_both_families_and_a_bad_one():
    config = {"InsecureRegistryCIDRs": ["not-a-cidr", "::1/128", "10.0.0.0/8"]}
    assert promote_plan.insecure(config, "[::1]:5000", ["::1"])
    assert promote_plan.insecure(config, "r:5000", ["10.1.2.3"])
    assert not promote_plan.insecure({}, "r:5000", ["10.1.2.3"])


@pytest.mark.parametrize("registry, host", [("127.0.0.1:5000", "127.0.0.1"),
                                            ("registry.example", "registry.example"),
                                            ("[::1]:5000", "::1")])
def test_registry_host(registry, host):
    assert promote_plan.registry_host(registry) == host
