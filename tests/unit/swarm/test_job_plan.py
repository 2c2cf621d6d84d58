"""What a deploy does with a job service (pipeline/swarm/job_plan.py through deploy_plan's
plan_request), decided from job services and tasks recorded from the lab's engine
(tests/fixtures/watch/job-*.json): run it, run it again, wait for the run that goes on, or
nothing; and what a job is refused (a rollback, analysis)."""
import json
from pathlib import Path

import pytest

from pipeline import catalog
from pipeline.context import BuildInfo
from pipeline.errors import CatalogError, UsageError
from pipeline.stages import status
from pipeline.swarm import apply, deploy_plan, jobrun, rollback_plan
from pipeline.swarm import spec as specs
from pipeline.swarm.deploy_read import Reading
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.judge import Outcome
from pipeline.swarm.plan import Action, Done
from pipeline.swarm.request import DeployRequest
from pipeline.swarm.writes import CreateService, UpdateService

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "watch"
IMAGE = "shipway-watch-fixture:v1"      # what the recorded jobs run
NEW = "127.0.0.1:5000/fixture/migrate:2@sha256:" + "d" * 64
FORCE = "TaskTemplate.ForceUpdate"


def recorded(case, index=-1):
    """(service, tasks) of a recorded job case at one of its snapshots."""
    doc = json.loads((FIXTURES / f"{case}.json").read_text())
    snap = doc["snapshots"][index]["snapshot"]
    return snap["service"], snap["tasks"]


def request(entry=None, image=IMAGE, rerun=False):
    data = {"services": {"fx-job": {"image": "127.0.0.1:5000/fixture/migrate",
                                    "deploy": {"mode": "replicated-job"}, **(entry or {})}}}
    settings = catalog.from_data(data, path="c.yml").service("fx-job")
    return DeployRequest("fx-job", image, settings["service"], catalog_keys=settings["service"],
                         catalog="c.yml", definitions=settings["definitions"], environ={},
                         build=BuildInfo(number="12"), rerun_jobs=rerun)


def plan_for(case, index=-1, **kwargs):
    service, tasks = recorded(case, index)
    req = request(**kwargs)
    labels = specs.deploy_labels(req.image, specs.digest_of(req.image), req.build, "r9")
    return deploy_plan.plan_request(req, Reading(service, [], tasks=tasks), labels), service


def paths(plan):
    return [change.summary()["path"] for change in plan.changes]


def test_a_job_whose_spec_completed_is_not_run_again_by_a_plain_deploy():
    plan, service = plan_for("job-complete")
    assert plan.action is Action.UNCHANGED and plan.writes == []
    assert isinstance(plan.expect, Done) and plan.expect.run.state == "completed"
    finished = plan.expect.run.finished
    assert plan.job == (f"unchanged: job fx-job completed on this digest at {finished} "
                        "(iteration 0; --rerun-jobs runs it again)")
    assert plan.lines("fx-job", IMAGE) == ["service fx-job: no change", plan.job]
    assert plan.summary()["job"] == plan.job


def test_asked_to_rerun_it_writes_the_same_spec_again_forced():
    plan, service = plan_for("job-complete", rerun=True)
    assert plan.action is Action.UPDATE and [type(w) for w in plan.writes] == [UpdateService]
    assert FORCE in paths(plan)
    assert plan.spec["TaskTemplate"]["ForceUpdate"] == 1
    assert plan.spec["Labels"][specs.LABEL_PREFIX + "release"] == "r9"
    assert plan.spec["Mode"] == service["Spec"]["Mode"]
    assert plan.expect == Expectation(IMAGE, Follow.JOB, iteration=1)
    assert plan.job == "job fx-job: runs again on the same spec (asked with --rerun-jobs) " \
                       "(iteration 1)"
    assert not plan.new_template    # no analysis judges a job's run


def test_a_job_whose_last_run_failed_is_run_again_by_a_plain_deploy():
    plan, service = plan_for("job-failed")
    assert plan.action is Action.UPDATE and FORCE in paths(plan)
    assert plan.expect.iteration == 1
    assert "its last run, iteration 0, failed: task " in plan.job
    assert "exited 3" in plan.job


def test_a_run_that_goes_on_is_waited_for_and_not_started_twice():
    for rerun in (False, True):
        plan, service = plan_for("job-timeout", rerun=rerun)
        assert plan.action is Action.UNCHANGED and plan.writes == []
        assert plan.expect == Expectation(IMAGE, Follow.JOB, iteration=0)
        assert plan.job == ("job fx-job is running (iteration 0, 0/1 tasks completed): "
                            "waiting for this run")


def test_a_spec_that_changes_runs_the_job_without_forcing_it():
    plan, service = plan_for("job-complete", image=NEW)
    assert plan.action is Action.UPDATE
    assert "TaskTemplate.ContainerSpec.Image" in paths(plan) and FORCE not in paths(plan)
    assert plan.expect == Expectation(NEW, Follow.JOB, iteration=1)
    assert plan.job == "job fx-job: its spec changes, so swarm runs it again (iteration 1)"


def test_a_second_run_is_judged_from_its_own_iteration():
    plan, _ = plan_for("job-rerun")
    assert isinstance(plan.expect, Done) and plan.expect.run.iteration == 1
    again, _ = plan_for("job-rerun", rerun=True)
    assert again.expect.iteration == 2
    running, _ = plan_for("job-rerun", index=0)     # the second run had not started yet
    assert running.expect == Expectation(IMAGE, Follow.JOB, iteration=1)


def test_a_new_job_is_created_as_a_job_with_shipways_job_defaults():
    req = request({"deploy": {"mode": "replicated-job", "replicas": 2}}, image=NEW)
    labels = specs.deploy_labels(NEW, specs.digest_of(NEW), req.build, "r1")
    plan = deploy_plan.plan_request(req, Reading(None, []), labels)
    assert plan.action is Action.CREATE and [type(w) for w in plan.writes] == [CreateService]
    spec = plan.spec
    assert spec["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}}
    # the engine refuses a job an update or rollback policy; swarm does not rerun a failure
    assert "UpdateConfig" not in spec and "RollbackConfig" not in spec
    assert spec["TaskTemplate"]["RestartPolicy"] == {"Condition": "none"}
    assert spec["EndpointSpec"] == {"Mode": "dnsrr"}
    assert plan.expect == Expectation(NEW, Follow.JOB, iteration=0)
    assert plan.job == "job fx-job: runs once it is created"
    # without replicas: the engine's one; a restart policy of the catalog's own is kept whole
    req = request({"deploy": {"mode": "replicated-job",
                              "restart_policy": {"max_attempts": 2}}}, image=NEW)
    spec = deploy_plan.plan_request(req, Reading(None, []), labels).spec
    assert spec["Mode"] == {"ReplicatedJob": {}}
    assert spec["TaskTemplate"]["RestartPolicy"] == {"MaxAttempts": 2}


def test_a_mode_the_service_does_not_have_is_refused():
    service, tasks = recorded("job-complete")
    req = request({"deploy": {"mode": "replicated", "replicas": 2}})
    with pytest.raises(CatalogError) as caught:
        deploy_plan.plan_request(req, Reading(service, [], tasks=tasks), {})
    assert caught.value.context["key"] == "deploy.mode"
    assert "runs in replicated-job mode" in caught.value.message


def test_analysis_of_a_job_is_refused_before_anything_is_written():
    service, tasks = recorded("job-complete")
    with pytest.raises(UsageError, match="deploy.analysis: service fx-job is a job"):
        apply._plan(request(image=NEW), Reading(service, [], tasks=tasks), {}, steps=object())


def test_a_job_is_not_rolled_back():
    service, _ = recorded("job-complete")
    with pytest.raises(UsageError) as caught:
        rollback_plan.plan_rollback("fx-job", service, [], None, {})
    assert caught.value.message == ("service fx-job is a replicated-job service: a job is not "
                                    "rolled back: deploy the release you want to run again")


def test_a_failed_job_is_one_line_with_its_exit_code_and_last_lines():
    service, tasks = recorded("job-failed")
    run = jobrun.run_of(service, tasks)
    outcome = Outcome(False, run.reason, job={**run.summary(),
                                              "last_lines": ["first line", "second line"]})
    result = apply.Result("fx-job", "updated", NEW, outcome=outcome)
    line = result.failure_message()
    assert line.startswith(f"job fx-job on {NEW} failed: task ")
    assert "exited 3; 0/1 tasks completed; last lines: first line | second line" in line
    assert "\n" not in line
    assert result.summary()["forensics"] == [] and result.failure().exit_code == 1


def test_status_says_how_the_jobs_current_run_ended():
    service, tasks = recorded("job-retried")
    job = status._job_status(service, tasks)["job"]
    assert (job["mode"], job["state"], job["exit_codes"]) == ("replicated-job", "failed",
                                                              [3, 3, 3])
    assert status._job_line(job) == (
        f"replicated-job, failed (iteration 0: 0/1 tasks completed, exit codes 3, 3, 3; "
        f"ended {job['finished']})")
    assert status._job_status({"Spec": {"Mode": {"Replicated": {}}}}, []) == {}
