"""Wait for a service to converge, one line per task state change, bounded by a timeout.

Swarm reports an update's fate in UpdateStatus (updating -> completed, or paused, or
rollback_started -> rollback_completed). A task with a HEALTHCHECK stays `starting` until it is
healthy, so `running` tasks on the desired image mean healthy ones.

An update is settled before swarm says `completed`: swarm takes its failure action only for a
task that fails within `monitor` of the moment the leader saw it running (swarmkit's updater),
and after the last batch it idles `delay` before marking the update completed. So once every
task of this update runs healthy and the newest one has run for `monitor`, nothing can undo
the update any more: `wait` reports success then, as `docker service update --detach=false`
does, instead of idling through the last delay. The leader's timestamps are read on this
machine's clock through `LeaderClock`, which may err late, never early.
"""
import re
import threading
import time

from pipeline.api import engine, events, logs
from pipeline.record import field, record
from pipeline.swarm import forensics
from pipeline.swarm.spec import PENDING_STATES, image_of, task_image, task_slot
from pipeline.units import parse_timestamp

POLL_SECONDS = 0.3
DEFAULT_MONITOR = 5.0     # swarm's monitor period when the config names none
SETTLE_MARGIN = 0.05      # for the updater to see the last task running after the store did
FINAL_POLL = 0.05         # settled, waiting only for old tasks whose exit no event tells
FAILED_STATES = {"failed", "rejected"}
_TASK_ID = re.compile(r"\btask ([a-z0-9]{25})\b")


@record
class Outcome:
    """How a wait ended. `ok` only when the desired image runs healthy on every replica."""

    ok: bool
    reason: str
    update_state: str = ""
    update_message: str = ""
    running_image: str = ""
    running: int = 0
    desired: int = 0
    task_error: str = ""
    events: list = field(default_factory=list)
    forensics: list = field(default_factory=list)   # forensics.collect() of each failed task


def replica_slots(live, image):
    """The replica slots with a task running `image` (healthy: a task with a HEALTHCHECK is
    `starting` until it passes). By slot, not by task: after an engine restart swarm may list
    two running tasks of one slot for a while."""
    return {task_slot(t) for t in live
            if t["Status"]["State"] == "running" and task_image(t) == image}


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
    image = _short_image(image_of(spec))
    # `docker service update --image` keeps the labels: a release label whose image is not
    # the spec's says the change came from outside shipway too.
    if "shipway.release" not in labels or labels.get("shipway.image") != image_of(spec):
        return f"it wants {image} (a change made outside shipway)"
    build = " ".join(part for part in (labels.get("shipway.job"),
                                       labels.get("shipway.build-number") and
                                       f"build {labels['shipway.build-number']}") if part)
    return f"it wants {image} (shipway release {labels['shipway.release']}" + \
        (f", {build})" if build else ")")


def _short_image(image):
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

    def __init__(self):
        self.offset = None

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
        if created is None or created < started or task["Status"]["State"] != "running":
            return None  # a task from before this update: swarm may still replace it
        running_since = clock.local(parse_timestamp(task.get("UpdatedAt")))
        if running_since is None:
            return None
        newest = running_since if newest is None else max(newest, running_since)
    return newest + monitor_seconds(service["Spec"], mode) + SETTLE_MARGIN


class Watcher:
    """Polls one service; `report` gets one line per task or update-state change."""

    def __init__(self, api, service_id, report, poll=POLL_SECONDS, secrets=None):
        self.api = api
        self.service_id = service_id
        self.report = report
        self.poll = poll
        self._tasks_seen = {}
        self._update_seen = None
        self._nodes = {}
        self._disconnected = ""     # why the engine does not answer, while it does not
        self._errors = {}
        self._failed = set()        # ids of the tasks on the expected image seen failed
        self._no_health_failure = set()   # stopped tasks whose container was not unhealthy
        self._clock = LeaderClock()
        self._settles_at = None           # local time the update settles, once known
        self.service = None               # the service as last read
        self._forensics = forensics.Collector(api, self._node_name, secrets)
        self._wake = threading.Event()    # set when a container of the service has exited
        self._stopped = set()             # ids of its containers seen exited on this engine
        self._exits = None                # events.ContainerExits, once an old task remains
        self._old = ()                    # the old tasks that still run or are wanted

    def wait(self, expectation, timeout):
        """Wait until the service meets `expectation` (an expect.Expectation), fails, or
        `timeout` seconds pass (see `_wait`); a failed outcome carries the failed tasks'
        forensics, and their digest goes to the console."""
        expect_image = expectation.image
        try:
            outcome = self._wait(expect_image, expectation.follow.value, timeout,
                                 expectation.since)
            if not outcome.ok:
                self._sweep(expect_image)
                outcome.forensics = self._forensics.records()
        finally:
            for follower in (self._follower, self._exits):
                if follower is not None:
                    follower.close()
            self._follower = self._forensics.followed = self._exits = None
            self._follow_started = False
        for line in forensics.digest(outcome.forensics):
            self.report(line)
        return outcome

    def _wait(self, expect_image, mode, timeout, since=None):
        """Wait until the service runs `expect_image` healthy, or fails, or `timeout` passes.

        mode: "update" or "rollback" follow UpdateStatus (only a status whose StartedAt differs
        from `since` counts: the previous update's status lingers for a moment); "tasks" judges
        by the tasks alone (a fresh create, a scale, a label-only change).
        """
        deadline = time.monotonic() + timeout
        self._since = time.time()
        while True:
            outcome = self._check(expect_image, mode, since)
            if outcome is not None:
                return outcome
            if time.monotonic() >= deadline:
                last = self._last or Outcome(False, "no answer from the engine")
                last.ok = False
                if self._disconnected:
                    last.reason = (f"timed out after {timeout:.0f}s waiting for the Docker "
                                   f"Engine to answer again ({self._disconnected}); last seen: "
                                   f"update state {last.update_state or 'none'}, "
                                   f"{last.running}/{last.desired} tasks running the new image")
                else:
                    last.reason = (f"timed out after {timeout:.0f}s: update state "
                                   f"{last.update_state or 'none'}, {last.running}/"
                                   f"{last.desired} tasks running the new image"
                                   + self._on_down_nodes(expect_image))
                last.running_image = serving(self._last_tasks)
                return last
            pause = self.poll
            if self._settles_at is not None:  # wake up when the monitor period is over
                left = self._settles_at - time.time()
                # past it, only old tasks are waited for: a stop on this engine wakes the
                # loop at once (see _others_remain); one on another node is polled for
                if left > 0:
                    pause = min(pause, max(0.01, left))
                elif self._exit_unseen():
                    pause = FINAL_POLL
            self._wake.wait(pause)
            self._wake.clear()

    _last = None
    _last_tasks = ()

    def _others_remain(self, tasks, image):
        """others_remain(), asking which nodes are down only when an old task still runs.

        An old task swarm is stopping stays `running` in the store for 3-3.5 s here (the
        agent first takes it out of the service's network binding and sleeps for gossip to
        converge, then stops the container, then reports), and the store hears of the stop
        after the engine does. So once an old task remains, the engine's container exits are
        followed (pipeline.api.events): a container of this engine counts as gone, and wakes
        the loop, the moment its process has exited. The guarantee (no old container runs
        when deploy returns) is checked on the container itself, sooner than polling the task
        could. Old tasks on other nodes are judged by their task state, as before.
        """
        tasks = [t for t in tasks if self._container(t) not in self._stopped]
        if not others_remain(tasks, image):
            self._old = ()
            return False
        self._old = [t for t in tasks if task_image(t) != image]
        if self._exits is None:
            # by the id: the watcher may have been given the service's name
            service_id = (self.service or {}).get("ID") or self.service_id
            self._exits = events.ContainerExits(self.api, service_id, self._since,
                                                self._exited).start()
        return others_remain(tasks, image, self._down_nodes())

    @staticmethod
    def _container(task):
        return (task["Status"].get("ContainerStatus") or {}).get("ContainerID")

    def _exited(self, container):
        self._stopped.add(container)
        self._wake.set()

    def _exit_unseen(self):
        """True when an old task may stop without an event saying so: it is on another node,
        or this engine's exits are not followed (not yet, or the stream broke)."""
        exits = self._exits
        if exits is None or not exits.alive or exits.node_id is None:
            return True
        return any(t.get("NodeID") != exits.node_id for t in self._old)

    _since = 0.0   # when the wait began (wall clock): events are replayed from then

    def _down_nodes(self):
        """{node id: hostname} of the nodes swarm does not see ready; {} when it cannot say."""
        try:
            return {n["ID"]: n["Description"]["Hostname"] for n in self.api.nodes()
                    if n["Status"]["State"] != "ready"}
        except engine.quiet_errors():
            return {}

    def _on_down_nodes(self, image):
        """'; node w1 is down with task ... on it', for the tasks of `image` not yet running
        on nodes the swarm sees down: swarm's rolling update waits for such a task and does
        not go on by itself (the node is gone, not the task)."""
        waiting = [t for t in self._last_tasks if task_image(t) == image
                   and t["Status"]["State"] in PENDING_STATES]
        if not waiting:
            return ""
        down = self._down_nodes()
        stuck = [f"node {down[t['NodeID']]} is down with task {t.get('Slot', '-')} "
                 f"{t['ID'][:12]} of this update on it ({t['Status']['State']})"
                 for t in waiting if t.get("NodeID") in down]
        return "; " + "; ".join(stuck) if stuck else ""

    def _check(self, expect_image, mode, since):
        try:
            service = engine.call(self.api.inspect_service, self.service_id)
            self._clock.observe([service], time.time())
            tasks = engine.call(self.api.tasks, filters={"service": self.service_id})
            self._clock.observe(tasks, time.time())
        except engine.NotFoundError:
            image = self._last.running_image if self._last else ""
            return Outcome(False, "the service was removed while shipway waited for it",
                           running_image=image or "nothing")
        except engine.EngineCallError as exc:
            if not engine.is_transient(exc):
                raise engine.api_error(exc, "cannot follow the service") from None
            # A restarting engine: first no socket, then a swarm without a leader. Both pass.
            if not self._disconnected:
                self.report(f"lost the connection to the Docker Engine ({engine.short(exc)}); "
                            "still waiting for it")
            self._disconnected = engine.short(exc)
            return None
        self.service = service
        if not self._follow_started:
            self._follow_started = True
            self._follow(service)
        if self._disconnected:
            self.report("reconnected to the Docker Engine")
            self._disconnected = ""
        self._report_tasks(tasks)
        self._last_tasks = tasks
        status = service.get("UpdateStatus") or {}
        fresh = bool(status) and status.get("StartedAt") != since
        state = status.get("State", "") if fresh else ""
        message = status.get("Message", "") if fresh else ""
        if fresh and (state, message) != self._update_seen:
            self._update_seen = (state, message)
            self.report(f"update state: {state}" + (f" ({message})" if message else ""))
            if state in ("paused", "rollback_started", "rollback_paused"):
                self._why = message  # names the task that failed; later messages do not
        message = self._why or message
        live = [t for t in tasks if t.get("DesiredState") == "running"]
        desired = desired_count(service["Spec"], live)
        healthy_slots = replica_slots(live, expect_image)
        healthy = len(healthy_slots) == desired
        converged = healthy and not self._others_remain(tasks, expect_image)
        outcome = Outcome(False, "", state, message, image_of(service["Spec"]),
                          len(healthy_slots), desired, self._task_error(tasks, expect_image))
        self._last = outcome
        if mode in ("update", "rollback"):
            done = "completed" if mode == "update" else "rollback_completed"
            if state in ("paused", "rollback_paused"):
                outcome.reason = f"swarm paused the {mode}"
                # The spec names the new image; what serves is what the tasks run.
                outcome.running_image = serving(tasks)
                return outcome
            if mode == "update" and state == "rollback_completed":
                outcome.reason = "swarm rolled the update back"
                return outcome
        if outcome.running_image != expect_image and not state.startswith("rollback"):
            # Someone else (another deploy, a rollback, `docker service update`) changed the
            # service since: what we wait for will never come. (Swarm's own rollback changes
            # the image too, but says so in the update state.)
            outcome.reason = ("another change to the service replaced this one: "
                              + replaced_by(service["Spec"]))
            # The update message is the other change's; what serves is what the tasks run.
            outcome.update_message = ""
            outcome.running_image = serving(tasks)
            return outcome
        if mode in ("update", "rollback"):
            if state == done and converged:
                outcome.ok, outcome.reason = True, f"{mode} completed"
                return outcome
            running = "updating" if mode == "update" else "rollback_started"
            # Known as soon as every replica runs healthy, so the loop wakes at that moment;
            # success also needs the old tasks gone.
            self._settles_at = (settled_at(self._clock, service, live, mode)
                                if state == running and healthy else None)
            if converged and self._settles_at is not None and time.time() >= self._settles_at:
                outcome.ok = True
                outcome.reason = (f"{mode} converged: every task healthy through the monitor "
                                  "period")
                return outcome
            return None
        if converged:
            outcome.ok, outcome.reason = True, "all replicas running"
            return outcome
        # Every failed task seen counts, not only those still listed: swarm keeps only the
        # last few dead tasks per slot (the swarm's task history limit, maybe 1 or 2).
        self._failed.update(t["ID"] for t in tasks if t["Status"]["State"] in FAILED_STATES
                            and task_image(t) == expect_image)
        if desired and len(self._failed) >= max(3, desired + 1):
            outcome.reason = f"{len(self._failed)} tasks failed to start"
            return outcome
        return None

    def _task_error(self, tasks, image):
        """The error of the task that failed the update: the one UpdateStatus names, else the
        newest failed task on `image`. Errors seen earlier are remembered, because swarm may
        have removed the task from the list by the time the update is judged."""
        for task in tasks:
            err = task["Status"].get("Err") or (
                task["Status"]["State"] in FAILED_STATES and task["Status"].get("Message"))
            if not err and task["Status"]["State"] in ("complete", "shutdown") \
                    and task.get("DesiredState") == "shutdown" and task["ID"] not in self._errors \
                    and task["ID"] not in self._no_health_failure:
                # A container that exits cleanly when swarm stops it for failing its health
                # check leaves no Err on the task; its health log says what went wrong.
                err = _health_failure(self.api, task["Status"])
                if not err:  # stopped by the update, healthy: not worth asking again
                    self._no_health_failure.add(task["ID"])
            if err and task_image(task) == image:
                self._errors[task["ID"]] = (task["Status"].get("Timestamp", ""), err)
                self._collect(task)
        named = _TASK_ID.search(self._why or "")
        if named:
            found = self._errors.get(named.group(1)) or self._inspect_task_error(named.group(1))
            if found:
                return found[1]
        if not self._errors:
            return ""
        return max(self._errors.values())[1]

    def _collect(self, task):
        """Forensics of a failed task of this release, now: before swarm prunes it."""
        self._forensics.collect(task)

    _follower = None
    _follow_started = False   # once per wait, at its first read of the service

    def _follow(self, service):
        """Follow the service's logs from now on, for forensics (see pipeline.api.logs). Not
        for a TTY service: its log stream is not framed, and the broker says which task a
        line is from only in framed streams."""
        if (service["Spec"]["TaskTemplate"].get("ContainerSpec") or {}).get("TTY"):
            return
        self._follower = logs.ServiceLogFollower(self.api, self.service_id, time.time(),
                                                 forensics.LOG_LINES).start()
        self._forensics.followed = self._follower.tail

    def _sweep(self, image):
        """After a failure, follow the release's tasks a moment longer (forensics.SWEEP_SECONDS
        at most) while they may still leave forensics: swarm pauses or rolls back on the
        first failed task, when the other tasks of the release (on other nodes, still pulling)
        have not failed yet, and a task whose logs were pruned gets its slot's next attempt."""
        deadline = time.monotonic() + forensics.SWEEP_SECONDS
        tasks = self._last_tasks
        while self._forensics.pending(tasks, image) and time.monotonic() < deadline:
            time.sleep(forensics.SWEEP_POLL)
            tasks = engine.service_tasks(self.api, self.service_id)
            if tasks is None:
                return
            self._task_error(tasks, image)   # collects the failed tasks it finds

    def _inspect_task_error(self, task_id):
        try:
            status = engine.call(self.api.inspect_task, task_id)["Status"]
        except (engine.Refused, engine.Unreachable):
            return None
        err = status.get("Err") or _health_failure(self.api, status) or status.get("Message")
        return (status.get("Timestamp", ""), err) if err else None

    def _node_name(self, node_id):
        if node_id and node_id not in self._nodes:
            try:
                node = engine.call(self.api.inspect_node, node_id)
                self._nodes[node_id] = node["Description"]["Hostname"]
            except (engine.Refused, engine.Unreachable, KeyError):
                self._nodes[node_id] = node_id[:12]  # a node name is decoration, not a failure
        return self._nodes.get(node_id, "-")

    def _report_tasks(self, tasks):
        for task in sorted(tasks, key=lambda t: (t.get("Slot", 0), t["CreatedAt"])):
            key = (task["Status"]["State"], task.get("DesiredState"))
            previous = self._tasks_seen.get(task["ID"])
            if previous == key:
                continue
            self._tasks_seen[task["ID"]] = key
            if previous is None and task["Status"]["State"] in ("shutdown", "complete") \
                    and not self._first_round_done:
                continue  # history from before we started watching
            change = f"{previous[0]} -> {key[0]}" if previous else key[0]
            line = (f"task {task.get('Slot', '-')} {task['ID'][:12]} on "
                    f"{self._node_name(task.get('NodeID'))}: {change} "
                    f"(desired {key[1]}, {_short_image(task_image(task))})")
            err = task["Status"].get("Err")
            if err:
                line += f": {err}"
            self.report(line)
        self._first_round_done = True

    _first_round_done = False
    _why = ""


def health_failed(health):
    """True when a container's Health says its probe really failed: docker also marks a
    container `unhealthy` when it is stopped (swarm replacing the task), with a failing
    streak of 0 and a last probe that passed; that is no health failure."""
    log = health.get("Log") or [{}]
    return (health.get("Status") == "unhealthy" and (health.get("FailingStreak") or 0) > 0
            and log[-1].get("ExitCode") not in (0, None))


def _health_failure(api, status):
    """"container unhealthy: ..., last exit N: <probe output>" from the task's container,
    when it is on this node and its probe really failed (see health_failed)."""
    container_id = (status.get("ContainerStatus") or {}).get("ContainerID")
    if not container_id:
        return ""
    container = engine.inspect_container(api, container_id)  # None: another node, or removed
    health = ((container or {}).get("State") or {}).get("Health") or {}
    if not health_failed(health):
        return ""
    log = health.get("Log") or [{}]
    output = " ".join((log[-1].get("Output") or "").split())[:200]
    return (f"container unhealthy: {health.get('FailingStreak', '?')} failed health checks, "
            f"last exit {log[-1].get('ExitCode')}" + (f": {output}" if output else ""))
