"""The output of a service's tasks, followed while shipway watches a change to it.

Swarm removes a failed task, and its container, as soon as the slot's task history is full:
with `--task-history-limit 2` and start-first, a new task that crashes is gone the moment
its replacement is made, before anyone can read its logs, on this node or through the log
broker. So while a deploy or rollback is watched, one connection follows the service's logs
(GET /services/{id}/logs?follow=1&details=1, what `docker service logs -f` does: the swarm's
log broker streams every task's output, from every node, tasks started later included), and
the last lines of each task are kept here, by task id, for the forensics of the ones that fail.
"""
import collections
import threading

from pipeline.api import engine
from pipeline.api.follow import Follower

TASK_ATTR = "com.docker.swarm.task.id="
MAX_TASKS = 64           # tasks whose lines are kept (the oldest is dropped first)


class ServiceLogFollower(Follower):
    """Follows a service's logs (see Follower); `tail(task_id)` gives a task's last lines,
    and `on_line(task_id, message)`, if given, hears each line as it comes (in the
    follower's thread: a job's output said as it runs).

    Best effort: if the stream cannot be opened or breaks, the follower just knows fewer
    lines (forensics then falls back to the container and the log broker)."""

    name = "shipway-service-logs"

    def __init__(self, api, service_id, since, lines, on_line=None):
        super().__init__(api, service_id, since)
        self.lines = lines
        self.on_line = on_line
        self._tasks = collections.OrderedDict()   # task id -> deque of its last lines
        self._lock = threading.Lock()

    def tail(self, task_id):
        """The task's last lines seen so far ([] when none)."""
        with self._lock:
            return list(self._tasks.get(task_id, ()))

    def open(self):
        return engine.follow_service_logs(self.api, self.service_id, self.since)

    def read(self, stream):
        for payload in stream:
            self._add(payload.decode("utf-8", "replace"))

    def _add(self, text):
        for line in text.splitlines():
            task_id, message = parse_line(line)
            if not task_id:
                continue
            with self._lock:
                kept = self._tasks.get(task_id)
                if kept is None:
                    kept = self._tasks[task_id] = collections.deque(maxlen=self.lines)
                    while len(self._tasks) > MAX_TASKS:
                        self._tasks.popitem(last=False)
                kept.append(message)
            if self.on_line is not None:
                self.on_line(task_id, message)


def parse_line(line):
    """(task id, message) of a `details=1` service log line, whose first word is the
    comma-separated attributes (com.docker.swarm.node.id=...,...task.id=ID); (None, line)
    for a line without them."""
    attrs, sep, message = line.partition(" ")
    if not sep or TASK_ATTR not in attrs:
        return None, line
    for attr in attrs.split(","):
        if attr.startswith(TASK_ATTR):
            return attr[len(TASK_ATTR):], message
    return None, line
