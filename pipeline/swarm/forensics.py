"""What a failed task left behind, collected before swarm prunes it.

Swarm keeps only a few dead tasks per slot (its task history limit) and removes their
containers with them, often within seconds of a failed update being rolled back. By the time
someone opens the build, the app's last words are gone. So the watcher collects, as soon as
it sees a task of the release fail: the task's error, its container's exit code, the health
probe's log and the last LOG_LINES lines of its output. The container is read through the
Engine API when it is on this engine; a task on another node is read through the swarm's
log broker (GET /tasks/{id}/logs, what the service logs endpoint uses), the only way to reach
it from a manager.

Everything collected passes through pipeline.context's `redacted`: the secrets shipway knows
(its registry password and Jenkins token, from the variables pipeline.context names) never
reach the console, the --json record or the state file.
"""
import os

from pipeline.api import engine
from pipeline.context import redacted, secret_values
from pipeline.swarm.failure import probe_result
from pipeline.swarm.spec import PENDING_STATES, task_image, task_slot

LOG_LINES = 50
HEALTH_ENTRIES = 3          # the last probe runs kept (docker keeps 5)
OUTPUT_CHARS = 300          # of each probe's output
DIGEST_LOG_LINES = 5        # of each task's log, in the console digest
MAX_SLOTS = 5               # failed slots examined per wait (a crash loop makes dozens of tasks)
SWEEP_SECONDS = 3.0         # after a failure, how long the release's tasks are still followed
SWEEP_POLL = 0.25


def health_log(health):
    """The last probe runs as [{"exit": code, "output": text}], oldest first."""
    return [{"exit": entry.get("ExitCode"),
             "output": " ".join((entry.get("Output") or "").split())[:OUTPUT_CHARS]}
            for entry in (health.get("Log") or [])[-HEALTH_ENTRIES:]]


FOLLOWED = "service logs (followed during the change)"


def collect(api, task, node_name, secrets, followed=None):
    """The forensics record of one failed task (JSON-ready, secrets redacted). `followed`:
    a function of the task id giving the lines a logs.ServiceLogFollower kept of it, read
    when the container is not on this engine, before the log broker (which loses a task the
    moment swarm prunes it)."""
    status = task["Status"]
    container = status.get("ContainerStatus") or {}
    record = {
        "task": task["ID"], "slot": task.get("Slot"), "node": node_name,
        "state": status.get("State"), "desired_state": task.get("DesiredState"),
        "image": (task["Spec"].get("ContainerSpec") or {}).get("Image", ""),
        "error": status.get("Err") or status.get("Message") or "",
        "exit_code": container.get("ExitCode"), "health": [], "logs": [],
        "logs_from": "unavailable", "at": status.get("Timestamp", ""),
    }
    container_id = container.get("ContainerID")
    inspected = engine.inspect_container(api, container_id) if container_id else None
    if inspected is not None:
        state = inspected.get("State") or {}
        record["exit_code"] = state.get("ExitCode", record["exit_code"])
        record["health"] = health_log(state.get("Health") or {})
        logs = engine.container_log_tail(api, container_id, LOG_LINES)
        if logs is not None:
            record["logs"], record["logs_from"] = logs, "container"
    if record["logs_from"] == "unavailable":
        _take_followed(record, followed)
    if record["logs_from"] == "unavailable":
        logs = engine.task_log_tail(api, task["ID"], LOG_LINES)
        if logs is not None:
            record["logs"], record["logs_from"] = logs, "task logs (swarm log broker)"
    return redacted(record, secrets)


class Collector:
    """The forensics of one wait: a record per failed slot (replica slot, or node for a
    global service), of the first task that failed in it. While that record has no log lines
    (swarm pruned the task, and its container, before they could be read: with a task history
    limit of 2 a crash loop loses a task a second), the slot's next failed attempt replaces
    it: the same release, the same failure, with its output."""

    def __init__(self, api, node_name, secrets=None):
        self.api, self._node_name = api, node_name
        self.secrets = secrets            # None: read from the environment when first needed
        self.followed = None              # set to a ServiceLogFollower's tail while one runs
        self._by_slot = {}
        self._seen = set()

    def collect(self, task):
        """Collect a failed task of the release, unless its slot has a record with logs."""
        key = task_slot(task)
        held = self._by_slot.get(key)
        if task["ID"] in self._seen or (held and held["logs"]) or (
                held is None and len(self._by_slot) >= MAX_SLOTS):
            return
        self._seen.add(task["ID"])
        if self.secrets is None:
            self.secrets = secret_values(os.environ)
        record = collect(self.api, task, self._node_name(task.get("NodeID")), self.secrets,
                         self.followed)
        if held is None or record["logs"]:
            self._by_slot[key] = record

    def pending(self, tasks, image):
        """True while the release's tasks may still leave forensics worth waiting for: one
        of them has not started yet (it may fail in a moment), or one runs in a slot whose
        record has no logs (a crash loop: it fails again, and its logs can be read)."""
        self._refresh()
        return any(pending_forensics(t, image, self._by_slot) for t in tasks)

    def records(self):
        """The records, oldest failure first."""
        self._refresh()
        return sorted(self._by_slot.values(), key=lambda r: r["at"])

    def _refresh(self):
        """A record still without logs takes what the follower has of its task by now (a
        node ships a task's output a little after swarm hears that the task failed)."""
        for record in self._by_slot.values():
            if not record["logs"] and _take_followed(record, self.followed):
                record["logs"] = redacted(record["logs"], self.secrets or ())


def _take_followed(record, followed):
    """Give `record` the lines the follower kept of its task, if it has any; True then."""
    logs = followed(record["task"]) if followed is not None else None
    if logs:
        record["logs"], record["logs_from"] = logs, FOLLOWED
    return bool(logs)


def pending_forensics(task, image, by_slot):
    """Whether `task` (of the release on `image`) may still give forensics; see `pending`."""
    if task_image(task) != image or task.get("DesiredState") != "running":
        return False
    held = by_slot.get(task_slot(task))
    if (held and held["logs"]) or (held is None and len(by_slot) >= MAX_SLOTS):
        return False   # nothing more to learn from this slot
    state = task["Status"]["State"]
    # Not yet started (pulling, say): it may fail in a moment. A `starting` task is already
    # running its process and health checks, which may take a while: not waited for.
    return (state in PENDING_STATES and state != "starting") or (
        state == "running" and held is not None)


def digest(records):
    """A few console lines per failed task: where, how it ended, the probe, its last output."""
    lines = []
    for rec in records:
        head = (f"forensics: task {rec['slot'] or '-'} {rec['task'][:12]} on {rec['node']}: "
                f"{rec['state']}, exit code {rec['exit_code']}")
        if rec["error"]:
            head += f", {rec['error']}"
        lines.append(head)
        if rec["health"]:
            last = rec["health"][-1]
            lines.append("forensics:   health probe: " + probe_result(last["exit"], last["output"])
                         + ("" if last["output"] else " (no output)"))
        tail = [line for line in rec["logs"] if line.strip()][-DIGEST_LOG_LINES:]
        if tail:
            lines.append(f"forensics:   last {len(tail)} of {len(rec['logs'])} log lines "
                         f"({rec['logs_from']}):")
            lines += [f"forensics:   | {line[:300]}" for line in tail]
        else:
            lines.append(f"forensics:   no log output ({rec['logs_from']})")
    if records:
        lines.append(f"forensics: {len(records)} failed task(s); the full record (last "
                     f"{LOG_LINES} log lines each) is in the --json output")
    return lines
