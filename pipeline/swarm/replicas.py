"""Readings of a service and its tasks, as the Engine lists them (pure: no I/O, no clock).

What the watch judges with (pipeline/swarm/judge.py), and what `status` shows: which replicas
run an image, whether another image still runs, how many tasks a service wants, what serves,
which change replaced ours, and when swarm can no longer undo an update (how a container's
health reads as a failure is pipeline/swarm/failure.py's).
"""
from pipeline.swarm.spec import image_of, task_image, task_slot
from pipeline.units import parse_timestamp

DEFAULT_MONITOR = 5.0     # swarm's monitor period when the config names none
SETTLE_MARGIN = 0.05      # for the updater to see the last task running after the store did


def runs(task):
    """True when `task` runs: swarm says `running` and its container has a process. Swarm
    also says `running`, for a moment, of a task whose health check failed and whose process
    then exited 0 on the stop signal (the executor's start returns on the container's `die`
    with exit code 0), with that dead container's PID, 0: such a task never ran healthy.
    (A status without ContainerStatus is taken at its word.)"""
    status = task["Status"]
    if status["State"] != "running":
        return False
    container = status.get("ContainerStatus")
    return container is None or bool(container.get("PID"))


def replica_slots(live, image):
    """The replica slots with a task running `image` (healthy: a task with a HEALTHCHECK is
    `starting` until it passes; see runs()). By slot, not by task: after an engine restart
    swarm may list two running tasks of one slot for a while."""
    return {task_slot(t) for t in live if runs(t) and task_image(t) == image}


def others_remain(tasks, image, down=()):
    """A task of another image is still wanted, or still runs: with start-first the old
    container serves requests until it has stopped, so the release is not yet the only
    one. A task on a node in `down` (ids swarm sees down) counts as gone: it reports
    nothing more."""
    old = [t for t in tasks if task_image(t) != image
           and (t.get("DesiredState") == "running" or t["Status"]["State"] == "running")]
    if any(t.get("DesiredState") == "running" for t in old):
        return True
    return any(t.get("NodeID") not in down for t in old)


def desired_count(spec, live):
    """How many tasks the service should run: its replicas; for a global service, one per
    node swarm gave a task to, and at least one (right after a create swarm may not have made
    them yet: zero tasks is not converged). `live`: the tasks whose desired state is running."""
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return max(1, len({t.get("NodeID") for t in live}))
    return (mode.get("Replicated") or {}).get("Replicas", 0)


def serving(tasks):
    """What the running tasks run: one image, or each with its count when they differ
    (a paused or stuck update), or "nothing" when no task runs."""
    counts = {}
    for task in tasks:
        if task.get("DesiredState") == "running" and task["Status"]["State"] == "running":
            image = task_image(task)
            counts[image] = counts.get(image, 0) + 1
    if not counts:
        return "nothing (no task running)"
    if len(counts) == 1:
        return next(iter(counts))
    return " and ".join(f"{image} on {n} task{'s' if n > 1 else ''}"
                        for image, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def replaced_by(spec):
    """Which change won, from the spec's own labels: 'it wants IMAGE (release of job J
    build N)', or '(a change made outside shipway)' when it carries no shipway release."""
    labels = spec.get("Labels") or {}
    image = short_image(image_of(spec))
    # `docker service update --image` keeps the labels: a release label whose image is not
    # the spec's says the change came from outside shipway too.
    if "shipway.release" not in labels or labels.get("shipway.image") != image_of(spec):
        return f"it wants {image} (a change made outside shipway)"
    build = " ".join(part for part in (labels.get("shipway.job"),
                                       labels.get("shipway.build-number") and
                                       f"build {labels['shipway.build-number']}") if part)
    return f"it wants {image} (shipway release {labels['shipway.release']}" + \
        (f", {build})" if build else ")")


def short_image(image):
    """An image reference with its digest cut to 12 hex digits, for task lines."""
    if image and "@sha256:" in image:
        repo, digest = image.rsplit("@", 1)
        return f"{repo}@{digest[:19]}"
    return image or "?"


class LeaderClock:
    """The swarm leader's timestamps (Meta.CreatedAt/UpdatedAt) on this machine's clock.

    A timestamp was written before we read it: offset (leader - local) >= stamp - read time.
    The largest such bound seen is the estimate. It never exceeds the true offset, so a leader
    time converted with it is never earlier than the truth: at worst it is the time we first
    saw the stamp, which is all `docker service update` knows.
    """

    def __init__(self, offset=None):
        self.offset = offset

    def observe(self, objects, read_at):
        """Take the Meta timestamps of engine objects read by local time `read_at`."""
        for obj in objects:
            for key in ("CreatedAt", "UpdatedAt"):
                stamp = parse_timestamp(obj.get(key))
                if stamp is not None and (self.offset is None or stamp - read_at > self.offset):
                    self.offset = stamp - read_at

    def local(self, stamp):
        """Leader time `stamp` (POSIX seconds) as local time; None before any observation."""
        return None if stamp is None or self.offset is None else stamp - self.offset


def monitor_seconds(spec, mode):
    """The monitor period swarm applies to this update (or rollback): the config's, else 5 s."""
    config = spec.get("RollbackConfig" if mode == "rollback" else "UpdateConfig") or {}
    return (config.get("Monitor") or 0) / 1e9 or DEFAULT_MONITOR


def settled_at(clock, service, live, mode):
    """Local time from which swarm takes no failure action on this update, or None when it
    is not known yet: every live task must be one this update made (created after it started)
    and running; then it is the newest one's running time (leader clock) + monitor."""
    started = parse_timestamp((service.get("UpdateStatus") or {}).get("StartedAt"))
    if started is None or not live:
        return None
    newest = None
    for task in live:
        created = parse_timestamp(task.get("CreatedAt"))
        if created is None or created < started or not runs(task):
            return None  # a task from before this update: swarm may still replace it
        running_since = clock.local(parse_timestamp(task.get("UpdatedAt")))
        if running_since is None:
            return None
        newest = running_since if newest is None else max(newest, running_since)
    return newest + monitor_seconds(service["Spec"], mode) + SETTLE_MARGIN
