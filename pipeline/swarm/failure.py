"""How a task's end reads, and whose failure it is: pure functions of what the engine said.

A probe that times out is a failed probe: docker records it with exit code -1 and the output
"Health check exceeded timeout (1s)", which shipway says as "timed out after 1s" (a busy node
makes it happen; the release still failed its health check). A task swarm had already told
to stop (its update, a rollback or another change replaced it) is no failure of the release
it ran, whatever its container's health says by then, and also when it ends `failed`, e.g.
"task: non-zero exit (-1): dockerexec: unhealthy container" when its probes timed out on a
busy node as the change came.
"""
import re

from pipeline.swarm.spec import task_image

PROBE_OUTPUT_CHARS = 200
_TIMED_OUT = re.compile(r"^Health check exceeded timeout \(([^)]*)\)")
_CUT_SHORT = re.compile(r"^task: non-zero exit \(-1\)")


def health_failed(health):
    """True when a container's Health says its probe really failed: docker also marks a
    container `unhealthy` when it is stopped (swarm replacing the task), with a failing
    streak of 0 and a last probe that passed; that is no health failure."""
    log = health.get("Log") or [{}]
    return (health.get("Status") == "unhealthy" and (health.get("FailingStreak") or 0) > 0
            and log[-1].get("ExitCode") not in (0, None))


def probe_result(code, output):
    """One probe run as words: "exit 1: <output>" ("exit 1" without output), "timed out
    after 1s", "could not run: <output>" (docker's -1: the probe did not finish)."""
    output = " ".join((output or "").split())[:PROBE_OUTPUT_CHARS]
    if code == -1:
        timed_out = _TIMED_OUT.match(output)
        if timed_out:
            return f"timed out after {timed_out.group(1)}"
        return "could not run" + (f": {output}" if output else "")
    return f"exit {code}" + (f": {output}" if output else "")


def health_failure(health):
    """"container unhealthy: N failed health checks, last ..." for a container whose probe
    really failed (see health_failed), else "". When the last probe did not answer (timed
    out, could not run), the last one of the failing streak that did answer is named too."""
    if not health_failed(health or {}):
        return ""
    log = health["Log"]
    streak = log[-min(health["FailingStreak"], len(log)):]
    line = (f"container unhealthy: {health['FailingStreak']} failed health checks, last "
            + probe_result(log[-1].get("ExitCode"), log[-1].get("Output")))
    answered = [entry for entry in streak if entry.get("ExitCode") != -1]
    if log[-1].get("ExitCode") == -1 and answered:
        line += (" (an earlier one: "
                 + probe_result(answered[-1].get("ExitCode"), answered[-1].get("Output")) + ")")
    return line


def replaced(task):
    """True when `task` ended because swarm told it to stop (its update, a rollback or
    another change replaced it): it is `shutdown` (swarm carried the order out; a task that
    stops by itself is `complete` or `failed`), or it failed with the executor's "task:
    non-zero exit (-1): ...", the daemon's answer to a wait the stop order cut short (the
    cause after it, e.g. "dockerexec: unhealthy container", is what the container did
    meanwhile, no exit of its own)."""
    if task.get("DesiredState") not in ("shutdown", "remove"):
        return False
    status = task["Status"]
    return status["State"] == "shutdown" or _CUT_SHORT.match(status.get("Err") or "") is not None


def counts_for(task, image):
    """Whether `task`'s end (its error, its container's health) is a failure of the release
    on `image`: a task of that image that swarm did not stop (see `replaced`)."""
    return task_image(task) == image and not replaced(task)


def event_note(task):
    """What a task's state line adds: ": <its error>", or that it ended because swarm told
    it to stop (its error then is no failure of its own), or nothing."""
    err = task["Status"].get("Err")
    if not err:
        return ""
    return ": ended after swarm told it to stop" if replaced(task) else f": {err}"
