"""Swarm's own timeline of an update, read from the engine after it ended (not timed).

Used by the deploy and rollback figures to split a tool's wall time into what swarm spent
(UpdateStatus StartedAt -> CompletedAt) and what the tool added before and after it, and to
compute the lower bound of an update from its config and the measured task start times.
"""
import math

from pipeline.units import parse_timestamp


def parse_time(text):
    """Engine RFC 3339 time (nanoseconds, Z or offset) -> POSIX seconds (float)."""
    return parse_timestamp(text)


SETTLED = ("completed", "paused", "rollback_completed", "rollback_paused")


def settle(api, service_name, timeout=120):
    """Wait (bounded) until swarm has finished the service's update: a tool may return
    before swarm marks it completed, and the next run must start from a settled service."""
    from tests.support.poll import poll_until

    status = poll_until(lambda: api.inspect_service(service_name).get("UpdateStatus") or {},
                        timeout, f"the update of {service_name} to settle", 0.1,
                        until=lambda status: not status or status.get("State") in SETTLED)
    return status.get("State", "")


def timeline(api, service_name, started_after, wall_start, wall_end, update_config):
    """What swarm did in the update that began after `started_after` (POSIX seconds).

    Returns swarm's duration, the tool's overhead before swarm started and after it
    completed, each new task's start-to-running time (running means healthy: a task with a
    HEALTHCHECK stays `starting` until its first good check), and the lower bounds:
    batches x (task start + time to healthy) + batches x delay + monitor (swarm's own
    timeline, to `completed`), and the same with the delays between batches only (when the
    update is settled: every task healthy and past swarm's failure window).
    """
    settle(api, service_name)
    service = api.inspect_service(service_name)
    status = service.get("UpdateStatus") or {}
    started = parse_time(status.get("StartedAt"))
    completed = parse_time(status.get("CompletedAt"))
    tasks = api.tasks(filters={"service": service["ID"]})
    new = []
    for task in tasks:
        created = parse_time(task.get("CreatedAt"))
        if task.get("DesiredState") != "running" or created is None or created < started_after:
            continue
        if task["Status"]["State"] != "running":
            continue
        new.append(parse_time(task["Status"]["Timestamp"]) - created)
    replicas = service["Spec"]["Mode"]["Replicated"]["Replicas"]
    parallelism = update_config["Parallelism"] or replicas
    batches = math.ceil(replicas / parallelism)
    delay = update_config.get("Delay", 0) / 1e9
    monitor = update_config.get("Monitor", 0) / 1e9
    task_total = _batched(new, parallelism)
    return {
        "update_state": status.get("State", ""),
        "swarm_s": round(completed - started, 4) if started and completed else None,
        "before_swarm_s": round(started - wall_start, 4) if started else None,
        # negative: the tool returned before swarm declared the update completed
        "after_swarm_s": round(wall_end - completed, 4) if completed else None,
        "task_start_to_healthy_s": [round(x, 4) for x in sorted(new)],
        "batches": batches,
        "lower_bound_s": round(task_total + batches * delay + monitor, 4),
        "lower_bound_no_monitor_s": round(task_total + batches * delay, 4),
        # What "healthy everywhere and past swarm's failure window" cannot beat: the delays
        # between batches (not after the last one, which swarm idles through) + monitor.
        "lower_bound_settled_s": round(task_total + (batches - 1) * delay + monitor, 4),
    }


def _batched(times, parallelism):
    """Tasks of one batch start together: a batch costs its slowest task."""
    times = sorted(times)
    return sum(max(times[i:i + parallelism]) for i in range(0, len(times), parallelism))
