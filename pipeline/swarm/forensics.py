"""What a failed task left behind, collected before swarm prunes it.

Swarm keeps only a few dead tasks per slot (its task history limit) and removes their
containers with them, often within seconds of a failed update being rolled back. By the time
someone opens the build, the app's last words are gone. So the watcher collects, as soon as
it sees a task of the release fail: the task's error, its container's exit code, the health
probe's log and the last LOG_LINES lines of its output. The container is read through the
Engine API when it is on this engine; a task on another node is read through the swarm's
log broker (GET /tasks/{id}/logs, what the service logs endpoint uses), the only way to reach
it from a manager.

Everything collected passes through `redact`: the secrets shipway knows (its registry
password and Jenkins token, from the variables pipeline.context names) never reach the
console, the --json record or the state file.
"""
from pipeline.api import engine

LOG_LINES = 50
HEALTH_ENTRIES = 3          # the last probe runs kept (docker keeps 5)
OUTPUT_CHARS = 300          # of each probe's output
DIGEST_LOG_LINES = 5        # of each task's log, in the console digest
MASK = "***"


def redact(text, secrets):
    """`text` with every secret value (4 characters or more) replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, MASK)
    return text


def health_log(health):
    """The last probe runs as [{"exit": code, "output": text}], oldest first."""
    return [{"exit": entry.get("ExitCode"),
             "output": " ".join((entry.get("Output") or "").split())[:OUTPUT_CHARS]}
            for entry in (health.get("Log") or [])[-HEALTH_ENTRIES:]]


def collect(api, task, node_name, secrets):
    """The forensics record of one failed task (JSON-ready, secrets redacted)."""
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
        logs = engine.task_log_tail(api, task["ID"], LOG_LINES)
        if logs is not None:
            record["logs"], record["logs_from"] = logs, "task logs (swarm log broker)"
    return _redacted(record, secrets)


def _redacted(value, secrets):
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    return value


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
            lines.append(f"forensics:   health probe: exit {last['exit']}"
                         + (f": {last['output'][:200]}" if last["output"] else " (no output)"))
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
