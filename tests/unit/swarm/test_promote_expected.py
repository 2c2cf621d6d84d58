"""`shipway promote --expect-record`: the plan goes ahead only while the environment promoted
from runs what this build's own deploy (or promote) record says it put there. From the
recorded fixtures (tests/fixtures/promote/*.json): what the lab's engine showed, and the
record each deploy of the case saved in the state dir, in order."""
import copy
import json
import os

import pytest

from pipeline.errors import EXIT_FAILED, EXIT_USAGE, PromotionRefused, UsageError
from pipeline.swarm import promote_plan
from pipeline.swarm.promote_read import Source
from pipeline.swarm.releases import Release

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "fixtures", "promote")
PATH = "shipway-deploy-staging.json"


def case(name):
    """(the reading, the records of the case's deploys, in order)."""
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as handle:
        doc = json.load(handle)
    reading = Source(doc["name"], doc["service"], doc["tasks"],
                     [Release(**record) for record in doc["releases"]])
    return reading, doc["records"]


def expected(record, reading, source="staging"):
    return promote_plan.expected(record, PATH, source, reading.name)


def plan(reading, record):
    return promote_plan.plan("hello", "staging", "production", reading,
                             "10.210.0.1:5001/test/promote-fixture", "hello-prod",
                             expected(record, reading))


def refusal(reading, record):
    with pytest.raises(PromotionRefused) as caught:
        plan(reading, record)
    assert caught.value.exit_code == EXIT_FAILED
    assert "\n" not in str(caught.value)
    return str(caught.value)


def short(digest):
    return digest[:len("sha256:") + 12] + "..."


def test_the_release_this_build_deployed_still_runs_and_is_promoted():
    reading, (_, second) = case("released")
    promotion = plan(reading, second)
    assert promotion.release.seq == 2 and promotion.digest == second["digest"]
    assert promotion.release.id == second["release"]["id"]


def test_a_newer_build_deployed_since_is_refused():
    """This build deployed v1 (#1) and waited at the gate; a newer build deployed v2 (#2)."""
    reading, (first, second) = case("released")
    text = refusal(reading, first)
    assert text.startswith(
        f"staging runs release #2 ({short(second['digest'])}), not release #1 "
        f"({short(first['digest'])}) that this build deployed there: a newer build or a "
        "rollback changed it; nothing was changed (")
    assert "promote the build that put it there, after its own approval" in text


def test_a_rollback_since_is_refused():
    """This build deployed v2 (#2); someone rolled staging back to #1 while it waited."""
    reading, (first, second) = case("rolled-back")
    text = refusal(reading, second)
    assert text.startswith(f"staging runs release #1 ({short(first['digest'])}), not release "
                           f"#2 ({short(second['digest'])}) that this build deployed there")


def test_the_older_release_put_back_is_still_refused_as_rolled_back():
    """The record matches what runs, and the rules of what may be promoted still hold."""
    reading, (first, _) = case("rolled-back")
    text = refusal(reading, first)
    assert "staging runs release #1 of hello after a rollback: release #2 " in text


def test_a_newer_deploy_under_way_is_refused_as_changed():
    """This build deployed v1 (#1); a newer build's deploy of v2 is half done (its release
    is recorded only once it ends healthy)."""
    reading, (first,) = case("updating")
    v2 = reading.service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].rsplit("@", 1)[1]
    assert v2 != first["digest"]
    text = refusal(reading, first)
    assert text.startswith(f"staging runs {short(v2)} (no release recorded for it), not "
                           f"release #1 ({short(first['digest'])}) that this build deployed")


def test_the_same_digest_as_another_release_is_refused():
    """Approved was release #7 of this digest; #2 of the same digest runs now (a later
    deploy of it recorded a release of its own)."""
    reading, (_, second) = case("released")
    record = copy.deepcopy(second)
    record["release"].update(seq=7, id="0123456789ab")
    text = refusal(reading, record)
    assert text.startswith(f"staging runs release #2 ({short(second['digest'])}), not "
                           f"release #7 ({short(second['digest'])})")


def test_a_record_without_a_release_checks_the_digest_alone():
    reading, (first, second) = case("released")
    assert plan(reading, {**second, "release": None}).release.seq == 2
    text = refusal(reading, {**first, "release": None})
    assert f"not {short(first['digest'])} that this build deployed there" in text


def test_a_promote_record_says_promoted():
    reading, (first, _) = case("released")
    record = {**first, "environment": "staging",
              "promotion": {"from": "dev", "to": "staging", "service": "hello"}}
    assert "that this build promoted there" in refusal(reading, record)


def test_the_check_reads_without_changing_what_it_was_given():
    reading, records = case("released")
    before = copy.deepcopy((reading.service, reading.tasks, records))
    plan(reading, records[1])
    assert (reading.service, reading.tasks, records) == before


def bad(record, reading, source="staging"):
    with pytest.raises(UsageError) as caught:
        expected(record, reading, source)
    assert caught.value.exit_code == EXIT_USAGE
    text = str(caught.value)
    assert "\n" not in text and text.startswith(f"--expect-record {PATH}: ")
    assert "pass the file this build's deploy or promote to staging wrote with --json" in text
    return text


def test_a_record_of_a_deploy_that_did_not_end_healthy_is_bad_input():
    reading, (_, broken) = case("paused")     # deploy of :broken, paused by swarm
    assert broken["ok"] is False and broken["release"] is None
    assert "the record of a deploy that did not end healthy in " in bad(broken, reading)


def test_a_record_of_another_service_or_environment_is_bad_input():
    reading, (first, _) = case("released")
    text = bad({**first, "service": "hello-dev"}, reading)
    assert f"the record of hello-dev, not of {reading.name} in staging" in text
    text = bad({**first, "environment": "production"}, reading)
    assert f"the record of {reading.name} in production, not of {reading.name} in staging" \
        in text
    text = bad({**first, "promotion": {"to": "production"}}, reading)
    assert "in production, not of" in text
    assert expected({**first, "environment": "staging"}, reading).seq == 1


@pytest.mark.parametrize("change, problem", [
    ({"dry_run": True}, "the record of a dry run, which put nothing there"),
    ({"digest": None}, "not the record of a deploy or promote (no service and digest in it)"),
    ({"digest": "sha256:abc"}, "no service and digest"),
    ({"service": 7}, "no service and digest"),
    ({"ok": None}, "did not end healthy"),
    ({"release": {"seq": "1", "id": "x"}}, "its release is not a release record"),
    ({"release": {"seq": 1, "id": ""}}, "its release is not a release record"),
    ({"release": ["#1"]}, "its release is not a release record"),
])
def test_what_is_not_a_healthy_record_is_bad_input(change, problem):
    reading, (first, _) = case("released")
    assert problem in bad({**first, **change}, reading)


def test_the_promotion_record_says_what_was_checked():
    reading, (_, second) = case("released")
    assert plan(reading, second).summary()["expected"] == {
        "record": PATH, "release": 2, "digest": second["digest"]}
    plain = promote_plan.plan("hello", "staging", "production", reading, None, "hello-prod")
    assert plain.summary()["expected"] is None
