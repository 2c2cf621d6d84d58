"""Wait for a service to converge, one line per task state change, bounded by a timeout.

Each poll reads a judge.Snapshot (the service, its tasks, and what else the judgement needs:
which nodes are down, which containers the engine said exited, the health of stopped
containers); pipeline/swarm/judge.py judges it, and gives the report lines, without I/O.
The Watcher keeps the I/O: the reads, the followers (the service's logs for forensics, its
containers' exits on this engine), forensics collection, the loop and its timeout.

An old task swarm is stopping stays `running` in the store for 3-3.5 s here (the agent first
takes it out of the service's network binding and sleeps for gossip to converge, then stops
the container, then reports), and the store hears of the stop after the engine does. So once
an old task remains, the engine's container exits are followed (pipeline.api.events): a
container of this engine counts as gone, and wakes the loop, the moment its process has
exited. The guarantee (no old container runs when deploy returns) is checked on the
container itself, sooner than polling the task could. Old tasks on other nodes are judged by
their task state.
"""
import dataclasses
import threading
import time

from pipeline.api import engine, events, logs
from pipeline.swarm import forensics, job_output, jobrun, judge
from pipeline.swarm.expect import Follow
from pipeline.swarm.judge import POLL_SECONDS, Outcome, Snapshot, Status


class Watcher:
    """Polls one service; `report` gets one line per task or update-state change.

    One Watcher may serve several waits on its service (the canary's steps): what it saw
    (the last snapshot, the judgement's memory) carries over from one to the next."""

    def __init__(self, api, service_id, report, poll=POLL_SECONDS, secrets=None):
        self.api = api
        self.service_id = service_id
        self.report = report
        self.poll = poll
        self.memory = judge.Memory()
        self.snapshot = None              # the last snapshot read
        self.service = None               # the service as last read
        self._last = None                 # the outcome of the last verdict
        self._nodes = {}                  # node id -> hostname
        self._disconnected = ""           # why the engine does not answer, while it does not
        self._forensics = forensics.Collector(api, self._node_name, secrets)
        self._wake = threading.Event()    # set when a container of the service has exited
        self._stopped = set()             # ids of its containers seen exited on this engine
        self._stopped_lock = threading.Lock()
        self._exits = None                # events.ContainerExits, once an old task remains
        self._follower = None             # logs.ServiceLogFollower, during a wait
        self._follow_started = False      # once per wait, at its first read of the service
        self._output = None               # job_output.JobOutput, while a job's run is waited for
        self._since = 0.0                 # when the wait began (wall clock): events replay

    def wait(self, expectation, timeout):
        """Wait until the service meets `expectation` (an expect.Expectation), fails, or
        `timeout` seconds pass; a failed outcome carries the failed tasks' forensics, and
        their digest goes to the console."""
        try:
            outcome = self._wait(expectation, timeout)
            if not outcome.ok:
                self._sweep(expectation.image)
                outcome.forensics = self._forensics.records()
        finally:
            for follower in (self._follower, self._exits):
                if follower is not None:
                    follower.close()
            self._follower = self._forensics.followed = self._exits = None
            self._follow_started = False
            output, self._output = self._output, None
        if output is not None:
            self._finish_job(output, outcome)
        for line in forensics.digest(outcome.forensics):
            self.report(line)
        return outcome

    def _wait(self, expect, timeout):
        """Poll and judge until a verdict is reached or `timeout` passes.

        Follow.UPDATE and ROLLBACK follow UpdateStatus (only a status whose StartedAt
        differs from `expect.since` counts: the previous update's status lingers for a
        moment); TASKS judges by the tasks alone (a create, a scale, a label-only change);
        JOB by the job's current run."""
        deadline = time.monotonic() + timeout
        self._since = time.time()
        while True:
            verdict = self._poll(expect)
            if isinstance(verdict, Outcome):
                return verdict
            if verdict is not None and verdict.status is not Status.WAITING:
                return verdict.outcome
            if time.monotonic() >= deadline:
                return self._timed_out(expect.image, timeout)
            self._wake.wait(verdict.look_again if verdict is not None else self.poll)
            self._wake.clear()

    def _poll(self, expect):
        """Read a snapshot, report what changed, judge it: the Verdict; an Outcome when the
        service is gone; None while the engine does not answer."""
        try:
            snap = self._read(expect)
        except engine.EngineCallError as exc:
            if not engine.is_transient(exc):
                raise
            # A restarting engine: first no socket, then a swarm without a leader. Both pass.
            if not self._disconnected:
                self.report(f"lost the connection to the Docker Engine ({engine.short(exc)}); "
                            "still waiting for it")
            self._disconnected = engine.short(exc)
            return None
        if snap is None:
            image = self._last.running_image if self._last else ""
            return Outcome(False, "the service was removed while shipway waited for it",
                           running_image=image or "nothing")
        if self._disconnected:
            self.report("reconnected to the Docker Engine")
            self._disconnected = ""
        for line in judge.report_lines(self.snapshot, snap, expect.since,
                                       judge.run_iteration(expect, snap)):
            self.report(line)
        verdict = judge.judge(expect, snap, self.memory, self.poll)
        self.memory, self.snapshot, self._last = verdict.memory, snap, verdict.outcome
        self._collect(snap.tasks)
        return verdict

    def _read(self, expect):
        """The Snapshot of this moment, None when the service is gone (engine errors of the
        service's own reads pass up)."""
        service = engine.inspect_service(self.api, self.service_id)
        if service is None:
            return None
        tasks = engine.list_tasks(self.api, self.service_id)
        read_at = time.time()
        self.service = service
        if not self._follow_started:
            self._follow_started = True
            self._follow(service, expect, tasks)
        with self._stopped_lock:
            stopped = frozenset(self._stopped)
        need = judge.needs(expect, service, tasks, stopped, self.memory)
        down = None
        if need.old:
            self._follow_exits(service)
            down = self._down_nodes()
        named = self._inspect_task(need.named) if need.named else None
        return Snapshot(service, tasks, read_at, self._names(tasks), down, stopped,
                        self._exits_node(), self._health(need.health), named)

    def _timed_out(self, image, timeout):
        """The timeout's Outcome; a task of the release not yet running may be on a node
        swarm sees down: which nodes are is read into the last snapshot then."""
        snap = self.snapshot
        if snap is not None and not self._disconnected \
                and judge.pending_on_down_nodes(snap, image):
            snap = self.snapshot = dataclasses.replace(snap, down=self._down_nodes())
        return judge.timed_out(self._last, snap, image, timeout, self._disconnected)

    # --- reads beyond the service and its tasks ----------------------------------------
    def _health(self, tasks):
        """{task id: its container's State.Health ({} when the container is not on this
        engine or has no health check)}."""
        return {t["ID"]: self._container_health(t["Status"]) for t in tasks}

    def _container_health(self, status):
        container_id = (status.get("ContainerStatus") or {}).get("ContainerID")
        if not container_id:
            return {}
        container = engine.inspect_container(self.api, container_id)  # None: not here
        return ((container or {}).get("State") or {}).get("Health") or {}

    def _inspect_task(self, task_id):
        """{"ID", "Status", "Health"} of a task the update names; None when unreadable."""
        try:
            task = engine.inspect_task(self.api, task_id)
        except engine.EngineCallError:
            return None   # the named task's error is a detail of the failure line
        if task is None:
            return None
        status = task["Status"]
        return {"ID": task_id, "Status": status, "Health": self._container_health(status)}

    def _down_nodes(self):
        """{node id: hostname} of the nodes swarm does not see ready; {} when it cannot say."""
        try:
            nodes = engine.nodes(self.api)
        except engine.EngineCallError:
            return {}   # only sharpens a timeout's line: unknown is "none down"
        return {n["ID"]: n["Description"]["Hostname"] for n in nodes
                if n["Status"]["State"] != "ready"}

    def _names(self, tasks):
        return {t["NodeID"]: self._node_name(t["NodeID"]) for t in tasks if t.get("NodeID")}

    def _node_name(self, node_id):
        if node_id and node_id not in self._nodes:
            try:
                node = engine.inspect_node(self.api, node_id)
                self._nodes[node_id] = node["Description"]["Hostname"]
            except (engine.EngineCallError, KeyError, TypeError):
                self._nodes[node_id] = node_id[:12]  # a node name is decoration, not a failure
        return self._nodes.get(node_id, "-")

    # --- followers ---------------------------------------------------------------------
    def _follow(self, service, expect, tasks):
        """Follow the service's logs from now on, for forensics (see pipeline.api.logs), and
        for a job's run, to say its output as it comes (job_output.py). Not for a TTY
        service: its log stream is not framed, and the broker says which task a line is
        from only in framed streams."""
        if (service["Spec"]["TaskTemplate"].get("ContainerSpec") or {}).get("TTY"):
            return
        on_line = None
        if expect.follow is Follow.JOB:
            run = jobrun.iteration(service) if expect.iteration is None else expect.iteration
            self._output = job_output.JobOutput(
                self.api, self.report,
                old=[t["ID"] for t in tasks if jobrun.task_iteration(t) != run])
            on_line = self._output.line
        self._follower = logs.ServiceLogFollower(self.api, self.service_id, time.time(),
                                                 forensics.LOG_LINES, on_line).start()
        self._forensics.followed = self._follower.tail

    def _finish_job(self, output, outcome):
        """Once a job's run was waited for: the output its tasks printed that the follower
        had not delivered yet, and the last lines of the task that failed (or of the newest
        one) for the error line."""
        snap = self.snapshot
        if snap is None:
            return
        run = jobrun.run_of(snap.service, snap.tasks)
        tasks = [t for t in snap.tasks if t["ID"] in run.tasks]
        output.catch_up(tasks)
        failed = [record["task"] for record in outcome.forensics]
        outcome.job["last_lines"] = output.last_lines(failed + list(reversed(run.tasks)))

    def _follow_exits(self, service):
        """Follow this engine's exits of the service's containers, once an old task remains
        (by the service's id: the watcher may have been given its name)."""
        if self._exits is None:
            self._exits = events.ContainerExits(self.api, service.get("ID") or self.service_id,
                                                self._since, self._exited).start()

    def _exited(self, container):
        with self._stopped_lock:
            self._stopped.add(container)
        self._wake.set()

    def _exits_node(self):
        """The node whose container exits are followed, while they are; else None."""
        exits = self._exits
        return exits.node_id if exits is not None and exits.alive else None

    # --- forensics ---------------------------------------------------------------------
    def _collect(self, tasks):
        """Forensics of the failed tasks of this release, now: before swarm prunes them."""
        for task in tasks:
            if task["ID"] in self.memory.errors:
                self._forensics.collect(task)

    def _sweep(self, image):
        """After a failure, follow the release's tasks a moment longer (forensics.SWEEP_SECONDS
        at most) while they may still leave forensics: swarm pauses or rolls back on the
        first failed task, when the other tasks of the release (on other nodes, still pulling)
        have not failed yet, and a task whose logs were pruned gets its slot's next attempt."""
        deadline = time.monotonic() + forensics.SWEEP_SECONDS
        tasks = self.snapshot.tasks if self.snapshot is not None else ()
        while self._forensics.pending(tasks, image) and time.monotonic() < deadline:
            time.sleep(forensics.SWEEP_POLL)
            tasks = engine.service_tasks(self.api, self.service_id)
            if tasks is None:
                return
            health = self._health(judge.unexplained_stops(tasks, self.memory))
            self.memory = judge.task_errors(tasks, health, image, self.memory)
            self._collect(tasks)
