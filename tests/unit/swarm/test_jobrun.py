"""A job service's run (pipeline/swarm/jobrun.py), read from services and tasks recorded from
the lab's engine (tests/fixtures/watch/job-*.json, made by its record.py)."""
import json
from pathlib import Path

import pytest

from pipeline.swarm import jobrun

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "watch"


def snapshots(case):
    """[(service, tasks)] of a recorded job case, as the engine listed them."""
    doc = json.loads((FIXTURES / f"{case}.json").read_text())
    return [(s["snapshot"]["service"], s["snapshot"]["tasks"]) for s in doc["snapshots"]]


def test_a_completed_run_counts_every_task_that_exited_0():
    service, tasks = snapshots("job-complete")[-1]
    run = jobrun.run_of(service, tasks)
    assert (run.state, run.iteration, run.completed, run.wanted) == ("completed", 0, 2, 2)
    assert run.exit_codes == (0, 0) and run.finished == max(
        t["Status"]["Timestamp"] for t in tasks)
    assert run.started == service["JobStatus"]["LastExecution"]
    first, _ = snapshots("job-complete")[0]
    assert jobrun.run_of(first, snapshots("job-complete")[0][1]).state == "running"


def test_a_failed_run_names_the_task_and_its_exit_code():
    service, tasks = snapshots("job-failed")[-1]
    run = jobrun.run_of(service, tasks)
    assert (run.state, run.completed, run.wanted, run.exit_codes) == ("failed", 0, 1, (3,))
    assert run.reason == f"task {tasks[0]['ID'][:12]} exited 3; 0/1 tasks completed"
    assert run.summary()["exit_codes"] == [3]


@pytest.mark.parametrize("policy, allowed", [
    ({"Condition": "none", "MaxAttempts": 0}, 1),
    ({"Condition": "on-failure", "MaxAttempts": 2}, 3),
    ({"Condition": "any"}, None),
    (None, None),     # the engine's default: any, no max attempts
])
def test_how_many_times_swarm_runs_a_slot(policy, allowed):
    spec = {"TaskTemplate": {"RestartPolicy": policy} if policy else {}}
    assert jobrun.attempts(spec) == allowed


def test_a_slot_with_attempts_left_keeps_the_run_going():
    states = [jobrun.run_of(*snap).state for snap in snapshots("job-retried")]
    assert states[-1] == "failed" and set(states[:-1]) == {"running"}
    service, tasks = snapshots("job-retried")[-1]
    assert jobrun.run_of(service, tasks).exit_codes == (3, 3, 3)


def test_only_the_current_iteration_is_the_run():
    service, tasks = snapshots("job-rerun")[0]
    assert jobrun.iteration(service) == 1
    assert [jobrun.task_iteration(t) for t in tasks] == [0, 1]
    run = jobrun.run_of(service, tasks)
    assert run.state == "running" and run.tasks == (tasks[1]["ID"],)
    # the first run's task (completed) counts for nothing in the second
    assert (run.completed, run.exit_codes) == (0, ())


def test_a_global_job_wants_a_task_on_each_node_it_was_given_to():
    service, tasks = snapshots("job-global")[-1]
    assert jobrun.is_job(service["Spec"]) and "GlobalJob" in service["Spec"]["Mode"]
    run = jobrun.run_of(service, tasks)
    assert (run.state, run.completed, run.wanted) == ("completed", 1, 1)


def test_a_service_is_no_job():
    assert not jobrun.is_job({"Mode": {"Replicated": {"Replicas": 1}}})
    assert not jobrun.is_job({})
    assert jobrun.is_job({"Mode": {"ReplicatedJob": {}}})
