"""`shipway continue` decided from a recorded service (pipeline/swarm/resume.py): what is left
of a paused update, and when there is nothing to continue; the paused deploy's one line."""
import copy
import json
import os
from types import SimpleNamespace

import pytest

from pipeline.errors import EXIT_PAUSED, AnalysisPaused, UsageError
from pipeline.stages.deploy import paused, tell
from pipeline.swarm import canary
from pipeline.swarm import releases as history
from pipeline.swarm import spec as specs
from pipeline.swarm.apply import Result
from pipeline.swarm.judge import Outcome
from pipeline.swarm.resume import NothingToContinue, plan_resume

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "deploy")
NEW = "127.0.0.1:5000/fixture/hello:3@sha256:" + "c" * 64


def service(release_id="r2", held=True, state="updating"):
    with open(os.path.join(FIXTURES, "cli-service.json"), encoding="utf-8") as handle:
        current = json.load(handle)
    spec = current["Spec"]
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = NEW
    spec["Labels"][history.RELEASE_LABEL] = release_id
    if held:
        own = canary.held_value(spec["UpdateConfig"])
        spec["UpdateConfig"] = {**spec["UpdateConfig"], "Delay": 3_600 * 10 ** 9}
        spec["Labels"][specs.HELD_LABEL] = own
    current["UpdateStatus"] = {"State": state, "StartedAt": "2026-12-06T08:00:00Z"}
    return current


def recorded(release_id, image="127.0.0.1:5000/fixture/hello:2@sha256:" + "b" * 64):
    return history.Release(seq=4, id=release_id, service="fx-web", image=image,
                           digest=specs.digest_of(image), spec={})


def test_a_held_update_continues_with_the_rest_then_the_bake():
    plan = plan_resume("fx-web", service(), [recorded("r1")])
    assert plan.held and plan.image == NEW and plan.release_id == "r2"
    assert plan.lines[0].startswith(f"continue the update of fx-web to {NEW}: write the rest")


def test_an_update_out_already_is_baked_again_and_recorded():
    plan = plan_resume("fx-web", service(held=False, state="completed"), [recorded("r1")])
    assert not plan.held and "the bake again" in plan.lines[0]


def test_the_rest_comes_back_from_the_label_with_who_approved_it():
    current = service()
    rest = canary.held_rest(current, {"shipway.approved-by": "ops"})
    write = canary.rest_write(rest, current)
    assert write.spec["UpdateConfig"].get("Delay") != 3_600 * 10 ** 9
    assert specs.HELD_LABEL not in write.spec["Labels"]
    assert write.spec["Labels"]["shipway.approved-by"] == "ops"
    broken = copy.deepcopy(current)
    broken["Spec"]["Labels"][specs.HELD_LABEL] = "not json"
    assert canary.held_rest(broken).update_config == {}


@pytest.mark.parametrize("current,releases,words", [
    (service(held=False, state="completed"), [recorded("r2", NEW)],
     "runs release #4, recorded: no update is paused"),
    (service(release_id=""), [], "runs no release shipway deployed"),
    (service(state="rollback_completed"), [recorded("r1")], "swarm rolled back the update"),
    (service(state="paused"), [recorded("r1")], "swarm paused the update"),
])
def test_nothing_to_continue_is_one_line_exit_1(current, releases, words):
    if not current["Spec"]["Labels"][history.RELEASE_LABEL]:
        del current["Spec"]["Labels"][history.RELEASE_LABEL]
    with pytest.raises(NothingToContinue) as caught:
        plan_resume("fx-web", current, releases)
    assert words in caught.value.message and "nothing was changed" in caught.value.message
    assert caught.value.exit_code == 1


def test_no_service_is_bad_input():
    with pytest.raises(UsageError):
        plan_resume("fx-web", None, [])


def test_the_paused_line_names_why_what_runs_and_the_two_commands():
    outcome = Outcome(False, "analysis inconclusive: check e: 0.07 is between max 0.05 and "
                      "fail_max 0.1 (2 inconclusive evaluations, canary)", running=1,
                      desired=4, paused="canary")
    result = Result("hello-staging", "updated", NEW, outcome=outcome)
    args = SimpleNamespace(catalog="ship way.yml")
    error = paused(result, {"name": "hello-staging", "entry": "hello",
                            "environment": "staging"}, args)
    assert isinstance(error, AnalysisPaused) and error.exit_code == EXIT_PAUSED == 3
    assert error.label == "paused"
    assert error.message == (
        f"update of hello-staging to {NEW} paused in the canary window: analysis "
        "inconclusive: check e: 0.07 is between max 0.05 and fail_max 0.1 (2 inconclusive "
        "evaluations, canary); 1/4 tasks run the new release; `shipway continue --catalog "
        "'ship way.yml' --service hello --environment staging` goes on, `shipway rollback "
        "--catalog 'ship way.yml' --service hello --environment staging` goes back")


class Told(list):
    def __call__(self, event, **fields):
        self.append((event, fields))

    def outcome(self, result):
        self.append(("outcome", result.outcome.ok))


def test_a_paused_deploy_tells_the_webhooks_it_waits_for_an_answer():
    told = Told()
    outcome = Outcome(False, "analysis inconclusive: check e: ...", running_image="r:v1",
                      paused="canary")
    ctx = SimpleNamespace(build=SimpleNamespace(url="https://ci/job/hello/7"))
    tell(told, Result("hello", "updated", NEW, outcome=outcome), ctx)
    [(event, fields)] = told
    assert event == "approval-waiting" and fields["approve_url"] == "https://ci/job/hello/7/input/"
    assert fields["reason"].endswith(": continue the rollout or roll back?")
    told.clear()
    tell(told, Result("hello", "updated", NEW, outcome=Outcome(True, "done")), ctx)
    assert told == [("outcome", True)]
