"""The watch's judgement, from snapshots recorded from a real engine (tests/fixtures/watch,
made by its record.py): each case judged again without an engine must reach the verdicts the
live wait reached, and say the same lines."""
import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest

from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.failure import health_failed
from pipeline.swarm.judge import (
    POLL_SECONDS,
    Memory,
    Snapshot,
    Status,
    judge,
    report_lines,
    run_iteration,
    task_errors,
    timed_out,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "watch"
JOBS = ("job-complete", "job-failed", "job-failed-unlimited", "job-retried", "job-rerun",
        "job-failed-rerun", "job-global", "job-timeout")
CASES = ("starting", "converged", "paused", "rollback", *JOBS, "worker-lost-converged",
         "worker-lost-timeout")
OUTPUT = re.compile(r"^task [0-9a-z]{12} \| ")   # a job's output, said from the log follower


def load(case):
    doc = json.loads((FIXTURES / f"{case}.json").read_text())
    e = doc["expectation"]
    expect = Expectation(e["image"], Follow(e["follow"]), e["since"], e.get("iteration"))
    snaps = [Snapshot(**{**entry["snapshot"], "stopped": frozenset(entry["snapshot"]["stopped"])})
             for entry in doc["snapshots"]]
    return doc, expect, snaps


def replay(expect, snaps):
    """Judge the snapshots in order as the Watcher does: (verdicts, report lines)."""
    memory, before, verdicts, lines = Memory(), None, [], []
    for snap in snaps:
        lines += report_lines(before, snap, expect.since, run_iteration(expect, snap))
        verdict = judge(expect, snap, memory)
        memory, before = verdict.memory, snap
        verdicts.append(verdict)
    return verdicts, lines


@pytest.mark.parametrize("case", CASES)
def test_a_recorded_case_is_judged_again_as_it_was_live(case):
    doc, expect, snaps = load(case)
    verdicts, lines = replay(expect, snaps)
    assert [(v.status.value, v.outcome.reason) for v in verdicts] == \
        [(entry["verdict"], entry["reason"]) for entry in doc["snapshots"]]
    assert lines == [line for line in doc["lines"]
                     if not line.startswith("forensics:") and not OUTPUT.match(line)]
    last = verdicts[-1].outcome
    if verdicts[-1].status is Status.WAITING:      # the live wait timed out
        last = timed_out(last, snaps[-1], expect.image, doc["timeout"])
    live = doc["outcome"]
    assert (last.ok, last.reason, last.running_image, last.task_error) == \
        (live["ok"], live["reason"], live["running_image"], live["task_error"])
    assert (last.update_state, last.running, last.desired) == \
        (live["update_state"], live["running"], live["desired"])


def test_a_task_still_starting_is_waited_for_at_the_poll():
    _, expect, snaps = load("starting")
    verdicts, lines = replay(expect, snaps)
    starting = [i for i, s in enumerate(snaps) if s.tasks[0]["Status"]["State"] == "starting"]
    assert starting
    verdict = verdicts[starting[0]]
    assert verdict.status is Status.WAITING and verdict.look_again == POLL_SECONDS
    assert (verdict.outcome.running, verdict.outcome.desired) == (0, 1)
    assert verdicts[-1].status is Status.CONVERGED
    assert verdicts[-1].outcome.reason == "all replicas running"
    assert lines[0].startswith("task 1 ") and lines[0].endswith(
        ": pending (desired running, shipway-watch-fixture:v1)")


def test_a_replaced_task_marked_unhealthy_with_a_streak_of_0_is_no_health_failure():
    _, expect, snaps = load("converged")
    marked = [(s, task_id) for s in snaps for task_id, health in s.health.items()
              if health.get("Status") == "unhealthy" and health.get("FailingStreak") == 0]
    assert marked, "the recording has the stopped old task docker marked unhealthy"
    snap, task_id = marked[0]
    assert not health_failed(snap.health[task_id])
    memory = task_errors(snap.tasks, snap.health, expect.image, Memory())
    assert memory.errors == {} and task_id in memory.checked    # not read again
    # The same container with a probe that failed: still no error of the release, since
    # swarm stopped this task (`shutdown`: replaced); had it stopped by itself (`complete`:
    # the executor stops a container that fails its health check), it would have been one.
    failing = {**snap.health[task_id], "FailingStreak": 3,
               "Log": [{"ExitCode": 1, "Output": "  HTTP 404\n"}]}
    v1 = {**next(t for t in snap.tasks if t["ID"] == task_id)}
    v1["Spec"] = {"ContainerSpec": {"Image": expect.image}}
    assert v1["Status"]["State"] == "shutdown"
    assert task_errors([v1], {task_id: failing}, expect.image, Memory()).errors == {}
    v1["Status"] = {**v1["Status"], "State": "complete", "Message": "finished"}
    memory = task_errors([v1], {task_id: failing}, expect.image, Memory())
    assert memory.errors[task_id][1] == ("container unhealthy: 3 failed health checks, "
                                         "last exit 1: HTTP 404")
    verdicts, _ = replay(expect, snaps)
    assert verdicts[-1].outcome.ok and verdicts[-1].outcome.task_error == ""


def test_an_update_settles_once_every_new_task_ran_through_the_monitor_period():
    _, expect, snaps = load("converged")
    verdicts, _ = replay(expect, snaps)
    settling = [v for v in verdicts if v.settles_at is not None]
    assert settling, "every v2 task ran healthy before swarm said completed"
    first = settling[0]
    assert first.status is Status.WAITING and first.look_again <= POLL_SECONDS
    # the same snapshot, read once the monitor period is over, with the old tasks gone:
    # nothing can undo the update any more
    i = verdicts.index(first)
    snap = snaps[i]
    alone = [t for t in snap.tasks if t["Spec"]["ContainerSpec"]["Image"] == expect.image]
    later = dataclasses.replace(snap, tasks=alone, read_at=first.settles_at + 0.001)
    memory = verdicts[i - 1].memory
    verdict = judge(expect, later, memory)
    assert verdict.status is Status.CONVERGED
    assert verdict.outcome.reason == ("update converged: every task healthy through the "
                                      "monitor period")
    early = dataclasses.replace(later, read_at=first.settles_at - 0.5)
    assert judge(expect, early, memory).status is Status.WAITING


def test_paused_and_rolled_back_updates_name_the_failed_task_and_what_runs():
    for case, reason in (("paused", "swarm paused the update"),
                         ("rollback", "swarm rolled the update back")):
        _, expect, snaps = load(case)
        verdicts, _ = replay(expect, snaps)
        outcome = verdicts[-1].outcome
        assert verdicts[-1].status is Status.FAILED and outcome.reason == reason
        assert "unhealthy container" in outcome.task_error, outcome
        assert "task " in outcome.update_message, outcome   # the message naming the task
        assert outcome.running_image == "shipway-watch-fixture:v1"


def test_a_job_completes_when_every_task_of_its_run_exited_0():
    doc, expect, snaps = load("job-complete")
    verdicts, _ = replay(expect, snaps)
    assert all(v.status is Status.WAITING for v in verdicts[:-1])
    assert (verdicts[0].outcome.running, verdicts[0].outcome.desired) == (0, 2)
    assert verdicts[-1].status is Status.CONVERGED
    assert verdicts[-1].outcome.reason == "job completed: 2/2 tasks exited 0"
    assert verdicts[-1].outcome.job["exit_codes"] == [0, 0]
    # its output was said as it came, one line per line, prefixed with the task
    said = [line for line in doc["lines"] if OUTPUT.match(line)]
    assert len(said) == 4 and {line.split(" | ")[1] for line in said} == \
        {"first line", "second line"}


def test_a_job_whose_only_attempt_failed_fails_with_its_exit_code():
    doc, expect, snaps = load("job-failed")
    verdicts, _ = replay(expect, snaps)
    last = verdicts[-1].outcome
    assert verdicts[-1].status is Status.FAILED
    assert re.fullmatch(r"task [0-9a-z]{12} exited 3; 0/1 tasks completed", last.reason)
    assert last.task_error == "task: non-zero exit (3)"
    assert (last.job["state"], last.job["exit_codes"]) == ("failed", [3])
    assert doc["outcome"]["job"]["last_lines"] == ["first line", "second line"]


def test_a_job_swarm_restarts_without_end_fails_at_its_first_failure_saying_so():
    _, expect, snaps = load("job-failed-unlimited")
    verdicts, _ = replay(expect, snaps)
    first = next(i for i, v in enumerate(verdicts) if v.status is not Status.WAITING)
    assert verdicts[first].status is Status.FAILED
    assert "swarm goes on restarting it" in verdicts[first].outcome.reason


def test_a_job_with_max_attempts_fails_when_its_slot_used_the_last_one():
    _, expect, snaps = load("job-retried")
    verdicts, _ = replay(expect, snaps)
    failures = [sum(t["Status"]["State"] == "failed" for t in snap.tasks) for snap in snaps]
    assert all(v.status is Status.WAITING for v, n in zip(verdicts, failures) if n < 3)
    assert 1 in failures and 2 in failures     # the first two attempts failed: waited on
    assert verdicts[-1].status is Status.FAILED and failures[-1] == 3
    assert verdicts[-1].outcome.reason.endswith(
        "0/1 tasks completed (each slot ran 3 times, as the restart policy allows)")


def test_a_job_run_again_is_judged_by_its_new_iteration_beside_the_old_tasks():
    _, expect, snaps = load("job-rerun")
    old = [t for t in snaps[0].tasks if not t.get("JobIteration")]
    assert old and old[0]["Status"]["State"] == "complete"   # the first run's task
    verdicts, _ = replay(expect, snaps)
    assert all(v.status is Status.WAITING for v in verdicts[:-1])
    assert verdicts[-1].status is Status.CONVERGED and verdicts[-1].outcome.job["iteration"] == 1
    # waited for another iteration (a later write started another run): failed
    other = dataclasses.replace(expect, iteration=2)
    verdict = judge(other, snaps[-1], Memory())
    assert verdict.status is Status.FAILED
    assert verdict.outcome.reason.startswith("another change to the service started another run")


def test_a_failed_run_before_is_neither_news_nor_the_error_of_the_next_one():
    doc, expect, snaps = load("job-failed-rerun")
    old = [t["ID"] for t in snaps[0].tasks if not t.get("JobIteration")]
    assert old and snaps[0].tasks[[t["ID"] for t in snaps[0].tasks].index(old[0])][
        "Status"]["State"] == "failed"
    verdicts, lines = replay(expect, snaps)
    assert not [line for line in lines if old[0][:12] in line]
    assert not [line for line in doc["lines"] if old[0][:12] in line]   # forensics nor output
    assert verdicts[-1].status is Status.FAILED
    assert old[0] not in verdicts[-1].memory.errors and verdicts[-1].memory.errors
    assert verdicts[-1].outcome.job["iteration"] == 1


def test_a_global_job_completes_with_one_task_per_node():
    _, expect, snaps = load("job-global")
    verdicts, _ = replay(expect, snaps)
    assert verdicts[-1].status is Status.CONVERGED
    assert verdicts[-1].outcome.reason == "job completed: 1/1 tasks exited 0"


def test_a_job_that_runs_past_the_timeout_says_how_far_its_run_got():
    doc, expect, snaps = load("job-timeout")
    verdicts, _ = replay(expect, snaps)
    last = timed_out(verdicts[-1].outcome, snaps[-1], expect.image, doc["timeout"])
    assert last.reason == ("timed out after 4s: 0/1 tasks of the job completed (iteration 0; "
                           "swarm goes on with the run)")


def test_a_worker_lost_with_only_old_tasks_on_it_leaves_them_behind():
    _, expect, snaps = load("worker-lost-converged")
    verdicts, _ = replay(expect, snaps)
    last = snaps[-1]
    lost = [t for t in last.tasks if t.get("NodeID") in (last.down or {})
            and t["Status"]["State"] == "running"]
    assert lost and all(t["Spec"]["ContainerSpec"]["Image"] != expect.image for t in lost)
    assert verdicts[-1].status is Status.CONVERGED
    # the same tasks with the node still up: its old task is waited for
    assert judge(expect, dataclasses.replace(last, down={}), verdicts[-2].memory).status \
        is Status.WAITING


def test_a_worker_lost_with_a_task_of_the_update_is_named_when_the_wait_times_out():
    _, expect, snaps = load("worker-lost-timeout")
    verdicts, _ = replay(expect, snaps)
    last = snaps[-1]
    assert last.down and set(last.down.values()) == {"w1"}
    outcome = timed_out(verdicts[-1].outcome, last, expect.image, 40)
    assert outcome.reason.startswith("timed out after 40s: update state updating, ")
    assert "; node w1 is down with task 1 " in outcome.reason
    # without knowing which nodes are down, the reason names none
    blind = timed_out(verdicts[-1].outcome, dataclasses.replace(last, down=None),
                      expect.image, 40)
    assert "is down" not in blind.reason
    # the engine not answering at the end says so instead
    gone = timed_out(verdicts[-1].outcome, last, expect.image, 40, "connection refused")
    assert "waiting for the Docker Engine to answer again (connection refused)" in gone.reason


def test_another_change_replacing_the_update_is_named():
    _, expect, snaps = load("converged")
    snap = snaps[2]
    spec = {**snap.service["Spec"], "TaskTemplate": {
        **snap.service["Spec"]["TaskTemplate"],
        "ContainerSpec": {**snap.service["Spec"]["TaskTemplate"]["ContainerSpec"],
                          "Image": "shipway-watch-fixture:v3"}}}
    other = dataclasses.replace(snap, service={**snap.service, "Spec": spec})
    verdict = judge(expect, other, Memory())
    assert verdict.status is Status.FAILED
    assert verdict.outcome.reason == ("another change to the service replaced this one: it "
                                      "wants shipway-watch-fixture:v3 (a change made outside "
                                      "shipway)")
    assert verdict.outcome.update_message == ""


def test_the_first_snapshot_reports_no_history_and_an_unchanged_one_nothing():
    _, expect, snaps = load("converged")
    last = snaps[-1]
    first = report_lines(None, last, expect.since)
    assert not any(": shutdown (" in line for line in first), first
    assert report_lines(last, last, expect.since) == []


def test_a_task_running_with_a_dead_container_is_not_converged():
    """Swarm says `running`, for a moment, of a task whose health check failed and whose
    process then exited 0 on the stop signal, with the dead container's PID 0 (seen on a
    create of the hello example's broken release under load: the deploy had passed it)."""
    _, expect, snaps = load("starting")
    last = copy.deepcopy(snaps[-1])
    for task in last.tasks:
        if task["Status"]["State"] == "running":
            task["Status"]["ContainerStatus"]["PID"] = 0
    verdict = judge(expect, last, Memory())
    assert verdict.status is Status.WAITING
    assert judge(expect, snaps[-1], Memory()).status is Status.CONVERGED


def test_a_create_whose_tasks_end_by_themselves_fails_without_waiting_for_the_timeout():
    """Tasks of the new image that completed (a failed health check, then exit 0 on the
    stop signal) count as failures to start, as `failed` ones do: the create of a broken
    release ends after max(3, replicas + 1) of them instead of at its timeout."""
    _, expect, snaps = load("starting")
    last = copy.deepcopy(snaps[-1])
    (task,) = [t for t in last.tasks if t["Status"]["State"] == "running"]
    ended = []
    for n in range(3):
        gone = copy.deepcopy(task)
        gone["ID"], gone["DesiredState"] = f"ended{n}", "shutdown"
        gone["Status"] = {**gone["Status"], "State": "complete", "Message": "finished"}
        ended.append(gone)
    last = dataclasses.replace(last, tasks=ended)
    verdict = judge(expect, last, Memory())
    assert verdict.status is Status.FAILED
    assert verdict.outcome.reason == "3 tasks failed to start"
