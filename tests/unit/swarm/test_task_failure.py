"""How a task's end reads and whose failure it is (pipeline/swarm/failure.py, and the judge's
use of it), from Health documents and task errors as the engine (20.10) returned them."""
from pipeline.swarm import failure, forensics
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.judge import Memory, Snapshot, judge, report_lines, unexplained_stops

# A probe that sleeps past its 1s timeout (what a busy node does to a quick probe).
TIMED_OUT = {"Status": "unhealthy", "FailingStreak": 2, "Log": [
    {"Start": "2026-12-06T04:52:31.826504679Z", "End": "2026-12-06T04:52:32.827410926Z",
     "ExitCode": -1, "Output": "Health check exceeded timeout (1s)"},
    {"Start": "2026-12-06T04:52:33.844951702Z", "End": "2026-12-06T04:52:34.846367598Z",
     "ExitCode": -1, "Output": "Health check exceeded timeout (1s)"}]}
# A probe command that does not exist in the image.
NOT_RUN = {"Status": "unhealthy", "FailingStreak": 2, "Log": [
    {"ExitCode": -1, "Output": 'OCI runtime exec failed: exec failed: unable to start '
     'container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: '
     'unknown'}] * 2}
NOT_FOUND = {"ExitCode": 1, "Output": "wget: server returned error: HTTP/1.1 404 Not Found\n"}
ANSWERED = {"Status": "unhealthy", "FailingStreak": 2, "Log": [NOT_FOUND, NOT_FOUND]}


def test_a_probe_that_answered_reads_as_its_exit_and_output():
    assert failure.health_failure(ANSWERED) == (
        "container unhealthy: 2 failed health checks, last exit 1: wget: server returned "
        "error: HTTP/1.1 404 Not Found")


def test_a_timed_out_probe_is_a_failure_said_as_a_timeout():
    assert failure.health_failed(TIMED_OUT)
    assert failure.health_failure(TIMED_OUT) == (
        "container unhealthy: 2 failed health checks, last timed out after 1s")


def test_a_timeout_after_an_answer_of_the_same_streak_names_the_answer_too():
    health = {**TIMED_OUT, "Log": [{"ExitCode": 0, "Output": ""}, NOT_FOUND,
                                   TIMED_OUT["Log"][1]]}
    assert failure.health_failure(health) == (
        "container unhealthy: 2 failed health checks, last timed out after 1s (an earlier "
        "one: exit 1: wget: server returned error: HTTP/1.1 404 Not Found)")
    passed_before = {**health, "FailingStreak": 1}   # the 404 is not of this streak
    assert failure.health_failure(passed_before) == (
        "container unhealthy: 1 failed health checks, last timed out after 1s")


def test_a_probe_that_could_not_run_says_why():
    assert failure.health_failure(NOT_RUN).startswith(
        "container unhealthy: 2 failed health checks, last could not run: OCI runtime exec "
        "failed: ")


def test_a_stopped_container_docker_marks_unhealthy_reads_as_nothing():
    stopped = {"Status": "unhealthy", "FailingStreak": 0, "Log": [{"ExitCode": 0, "Output": ""}]}
    assert failure.health_failure(stopped) == ""
    assert failure.health_failure({}) == ""


def test_the_forensics_digest_says_a_probe_timed_out():
    lines = forensics.digest([{"task": "t" * 25, "slot": 1, "node": "vm", "state": "failed",
                               "exit_code": 143, "error": "",
                               "health": forensics.health_log(TIMED_OUT),
                               "logs": [], "logs_from": "container"}])
    assert lines[1] == "forensics:   health probe: timed out after 1s"
    silent = forensics.digest([{"task": "t" * 25, "slot": 1, "node": "vm", "state": "failed",
                                "exit_code": 143, "error": "", "health": [{"exit": 1,
                                                                           "output": ""}],
                                "logs": [], "logs_from": "container"}])
    assert silent[1] == "forensics:   health probe: exit 1 (no output)"


def task(state, desired, err=None, image="r:v2"):
    status = {"State": state, **({"Err": err} if err else {})}
    return {"ID": "a" * 25, "Slot": 1, "CreatedAt": "2026-12-06T04:52:30Z",
            "DesiredState": desired, "Status": status, "Spec": {"ContainerSpec": {"Image": image}}}


# The executor's wait cut short by swarm's stop order (exit -1) after the container went
# unhealthy: what the replaced-task test saw on a busy machine (and the engine answers here
# when a container goes unhealthy and is still stopping as a deploy replaces its task).
CUT_SHORT = "task: non-zero exit (-1): dockerexec: unhealthy container"


def test_a_task_swarm_stopped_is_replaced_not_failed():
    assert failure.replaced(task("shutdown", "shutdown"))
    assert failure.replaced(task("failed", "shutdown", CUT_SHORT))
    assert not failure.replaced(task("failed", "running", CUT_SHORT))   # no stop order
    assert not failure.replaced(task("failed", "shutdown", "task: non-zero exit (3)"))
    assert not failure.replaced(task("complete", "shutdown"))   # stopped by itself


def test_only_the_releases_tasks_swarm_did_not_stop_count_for_it():
    assert failure.counts_for(task("failed", "shutdown", "task: non-zero exit (3)"), "r:v2")
    assert not failure.counts_for(task("failed", "shutdown", CUT_SHORT), "r:v2")
    assert not failure.counts_for(task("failed", "shutdown", "task: non-zero exit (3)"), "r:v1")
    assert failure.event_note(task("failed", "shutdown", CUT_SHORT)) == \
        ": ended after swarm told it to stop"
    assert failure.event_note(task("failed", "running", CUT_SHORT)) == f": {CUT_SHORT}"
    assert failure.event_note(task("running", "running")) == ""


def test_the_judge_neither_reports_nor_counts_a_replaced_tasks_error():
    """Seen running, then failed after swarm told it to stop: the line says so, and the
    error is no task error of the release; the same error without the stop order is."""
    expect = Expectation("r:v2", Follow.UPDATE, None)
    service = {"ID": "s", "Spec": {"TaskTemplate": {"ContainerSpec": {"Image": "r:v2"}},
                                   "Mode": {"Replicated": {"Replicas": 1}}}}

    def snap(*tasks):
        return Snapshot(service, list(tasks), 0.0)
    before, after = snap(task("running", "running")), snap(task("failed", "shutdown", CUT_SHORT))
    assert report_lines(before, after, None) == [
        "task 1 aaaaaaaaaaaa on -: running -> failed (desired shutdown, r:v2): ended after "
        "swarm told it to stop"]
    assert judge(expect, after, Memory()).outcome.task_error == ""
    own = snap(task("failed", "running", "task: non-zero exit (3)"))
    assert judge(expect, own, Memory()).outcome.task_error == "task: non-zero exit (3)"
    # a replaced task's container is not even asked for its health
    assert unexplained_stops([task("shutdown", "shutdown")], Memory()) == ()
    assert unexplained_stops([task("complete", "shutdown")], Memory()) != ()
