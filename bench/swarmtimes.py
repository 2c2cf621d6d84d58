"""Swarm's own timeline of an update, read from the engine after it ended (not timed).

Used by the deploy and rollback figures to split a tool's wall time into what swarm spent
(UpdateStatus StartedAt -> CompletedAt) and what the tool added before and after it, and to
compute the lower bound of an update from its config and the measured task start times.
"""
import math
import threading

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


class Deaths:
    """The engine's `die` events of one service's containers, followed in a thread while
    the runs go on (not timed): when each container's process ended, and of which image.

    Used to check the guarantee "no container of the old image runs when the tool returns"
    on every run, for both tools: a tool that returns before the last old container died
    did not give it.
    """

    def __init__(self, api, service_id):
        self._stream = api.events(decode=True, filters={
            "type": "container", "event": "die",
            "label": f"com.docker.swarm.service.id={service_id}"})
        self.seen = []   # (POSIX seconds, image reference)
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self):
        try:
            for event in self._stream:
                image = event.get("Actor", {}).get("Attributes", {}).get("image", "")
                self.seen.append((event["timeNano"] / 1e9, image))
        except Exception:  # noqa: BLE001 - closed by close(); the figure says "unknown"
            return

    def last_other(self, image, since):
        """When the last container not of `image` (a reference with its digest) died after
        `since`; None if none did."""
        digest = image.partition("@")[2]
        times = [t for t, ref in self.seen if t >= since and (not digest or digest not in ref)]
        return max(times) if times else None

    def close(self):
        self._stream.close()


def timeline(api, service_name, started_after, wall_start, wall_end, update_config,
             deaths=None):
    """What swarm did in the update that began after `started_after` (POSIX seconds).

    Returns swarm's duration, the tool's overhead before swarm started and after it
    completed, each new task's start-to-running time (running means healthy: a task with a
    HEALTHCHECK stays `starting` until its first good check), and the lower bounds:
    batches x (task start + time to healthy) + batches x delay + monitor (swarm's own
    timeline, to `completed`), and the same with the delays between batches only (when the
    update is settled: every task healthy and past swarm's failure window). With `deaths`
    (a Deaths), also how long a container of the replaced image still ran after the tool
    returned (negative: it had died before).
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
    guarantee = {}
    if deaths is not None:
        image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        last = deaths.last_other(image, wall_start)
        # > 0: the tool returned while a container of the old image still ran
        guarantee = {"old_ran_after_return_s":
                     round(last - wall_end, 4) if last is not None else None}
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
        **guarantee,
    }


def _batched(times, parallelism):
    """Tasks of one batch start together: a batch costs its slowest task."""
    times = sorted(times)
    return sum(max(times[i:i + parallelism]) for i in range(0, len(times), parallelism))
