"""A job's output on the console while its run goes on: one line per line it prints,
prefixed with its task (`task 7j5icdoaa063 | migrating 0002`).

The lines come from the service's log, which the Watcher follows anyway for forensics
(pipeline/api/logs.py: the swarm's log broker, every node's tasks). The follower replays a
few seconds from before the wait began, so the lines of tasks of an earlier run are left
out. A task's last lines may reach the broker after swarm already says it completed: once the
wait is over and the follower closed, each task's whole output is read once more (from its
container on this engine, else through the log broker) and the lines the follower had not
delivered yet are said then.
"""
import collections
import threading

from pipeline.api import engine

CATCH_UP_LINES = 10_000   # a task that printed more than this is not caught up
LAST_LINES = 3            # of a failed job's output, in its error line
LINE_CHARS = 200          # of each of them


class JobOutput:
    """Says the output of one run's tasks; `old`: ids of tasks of earlier runs."""

    def __init__(self, api, report, old=()):
        self.api, self.report = api, report
        self._old = frozenset(old)
        self._said = {}                   # task id -> lines said
        self._tails = {}                  # task id -> its last lines
        self._closed = False
        self._lock = threading.Lock()

    def line(self, task_id, message):
        """One line a task printed (called from the follower's thread)."""
        if task_id in self._old:
            return
        with self._lock:
            if self._closed:
                return
            self._count(task_id, message)
        self.report(_prefixed(task_id, message))

    def _count(self, task_id, message):
        self._said[task_id] = self._said.get(task_id, 0) + 1
        self._tails.setdefault(task_id, collections.deque(maxlen=4 * LAST_LINES)).append(message)

    def catch_up(self, tasks):
        """After the follower closed: say the lines of `tasks` (the run's, as listed) that
        it had not delivered."""
        with self._lock:
            self._closed = True
        for task in tasks:
            logs = self._read(task)
            if logs is None or len(logs) >= CATCH_UP_LINES:
                continue
            for message in logs[self._said.get(task["ID"], 0):]:
                self._count(task["ID"], message)
                self.report(_prefixed(task["ID"], message))

    def _read(self, task):
        container = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
        logs = engine.container_log_tail(self.api, container, CATCH_UP_LINES) \
            if container else None
        if logs is None and task["Status"]["State"] not in ("new", "pending", "assigned"):
            logs = engine.task_log_tail(self.api, task["ID"], CATCH_UP_LINES)
        return logs

    def last_lines(self, task_ids):
        """The last lines printed by the first of `task_ids` that printed any, each cut
        to LINE_CHARS."""
        for task_id in task_ids:
            tail = [line for line in self._tails.get(task_id, ()) if line.strip()]
            if tail:
                return [line[:LINE_CHARS] for line in tail[-LAST_LINES:]]
        return []


def _prefixed(task_id, message):
    return f"task {task_id[:12]} | {message}"
