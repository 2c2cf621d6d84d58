"""The build queue, its scheduler thread and the executors running builds.

Lifecycle of a queue item, as clients poll it through
``queue/item/N/api/json``:

``WaitingItem`` (quiet period) -> ``BlockedItem`` (non-concurrent job already
running) -> ``BuildableItem`` (no free executor) -> ``LeftItem`` with
``executable: {number, url}`` (the build started; ``cancelled`` if it never
will).  The build itself then goes ``building: true`` -> ``result`` set.

Freestyle builds need one of ``num_executors`` executors; pipeline runs use a
flyweight one-off executor (as in Jenkins), so only ``node {}`` would need one and
they are never limited here (executors.py: what ``computer/api/json`` shows).
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Callable, Iterable, Optional

from . import config as cfg
from .executors import BuiltInComputer
from .exported import Exported, Prop
from .jobs import RESULTS, Build, CauseAction, Job, ParametersAction
from .model import Jenkins, now_ms

#: ``fn(job_full_name, config_xml, params) -> (result, console, description)``
BuildHook = Callable[[str, str, dict], tuple]

WAITING, BLOCKED, BUILDABLE, LEFT = ("WaitingItem", "BlockedItem",
                                     "BuildableItem", "LeftItem")


def default_build(job_path: str, config_xml: str, params: dict) -> tuple:
    """Default executor: every build succeeds at once with an empty log."""
    return "SUCCESS", "", None


class QueueItem(Exported):
    """One entry of ``Queue``; stays reachable by id after it left the queue."""

    def __init__(self, item_id: int, job: Job, user: str,
                 params: Optional[ParametersAction], quiet_until: int) -> None:
        self.id, self.job, self.user = item_id, job, user
        self.params_action = params
        self.actions: list[Exported] = [CauseAction(user)]
        if params is not None:
            self.actions.insert(0, params)
        self.in_queue_since = now_ms()
        self.quiet_until = quiet_until
        self.state = WAITING
        self.why: Optional[str] = None
        self.buildable_since: Optional[int] = None
        self.cancelled = False
        self.build: Optional[Build] = None

    @property
    def jenkins_class(self) -> str:  # type: ignore[override]
        return f"hudson.model.Queue${self.state}"

    @property
    def pending(self) -> bool:
        """Still in the queue (not started, not cancelled)."""
        return self.state != LEFT

    def params_text(self) -> str:
        """``Queue.Item.getParams``: one ``\\n(Class) name='value'`` per parameter."""
        if self.params_action is None:
            return ""
        return "".join(f"\n({v.jenkins_class.rsplit('.', 1)[-1]}) "
                       f"{v.definition.name}='{v.value}'"
                       for v in self.params_action.values)

    def exported(self) -> Iterable[Prop]:
        # Queue.Item is @ExportedBean(defaultVisibility = 999), inherited by its
        # subclasses: all but Actionable's "actions" show at any depth.
        props = [Prop("blocked", lambda: self.state == BLOCKED),
                 Prop("buildable", lambda: self.state == BUILDABLE),
                 Prop("id", lambda: self.id),
                 Prop("inQueueSince", lambda: self.in_queue_since),
                 Prop("params", self.params_text),
                 Prop("stuck", lambda: False),
                 Prop("task", lambda: self.job),
                 Prop("url", lambda: f"queue/item/{self.id}/"),
                 Prop("why", lambda: self.why)]
        if self.state == WAITING:
            props.append(Prop("timestamp", lambda: self.quiet_until))
        elif self.state == BUILDABLE:
            props += [Prop("buildableStartMilliseconds", lambda: self.buildable_since),
                      Prop("pending", lambda: False)]
        elif self.state == LEFT:
            props += [Prop("cancelled", lambda: self.cancelled),
                      Prop("executable", lambda: self.build)]
        return [Prop("actions", lambda: self.actions),
                *(Prop(p.name, p.getter, 999) for p in props)]


class Queue(Exported):
    """``hudson.model.Queue`` plus the scheduler and executor threads."""

    jenkins_class = "hudson.model.Queue"

    def __init__(self, root: Jenkins, hook: Callable[[], BuildHook]) -> None:
        self.root = root
        root.queue = self
        self.hook = hook
        self.cond = threading.Condition(root.lock)
        self.all_items: dict[int, QueueItem] = {}
        self.next_id = 1
        self.running: set[Build] = set()
        self.computer = BuiltInComputer(root)
        self._stopping = False
        self._thread: Optional[threading.Thread] = None

    # -- state queries (caller holds the lock) ------------------------------
    def pending(self) -> list[QueueItem]:
        """Items still waiting, oldest first."""
        return [i for i in self.all_items.values() if i.pending]

    def item_for(self, job: Job) -> Optional[QueueItem]:
        """The pending item of ``job`` (Jenkins keeps at most one per params)."""
        return next((i for i in self.pending() if i.job is job), None)

    def exported(self) -> Iterable[Prop]:
        return (Prop("discoverableItems", lambda: []),
                Prop("items", self.pending, inline=True))

    # -- mutations (caller holds the lock) ----------------------------------
    def schedule(self, job: Job, user: str, params: Optional[ParametersAction],
                 delay_seconds: float) -> QueueItem:
        """``Queue.schedule2``: reuse an identical pending item, else add one."""
        wanted = params.as_dict() if params else None
        for item in self.pending():
            mine = item.params_action.as_dict() if item.params_action else None
            if item.job is job and mine == wanted:
                return item
        item = QueueItem(self.next_id, job, user, params,
                         now_ms() + int(delay_seconds * 1000))
        item.why = f"In the quiet period. Expires in {delay_seconds:.1f} sec"
        self.next_id += 1
        self.all_items[item.id] = item
        self.cond.notify_all()
        return item

    def cancel(self, item: QueueItem) -> None:
        """Take a pending item out of the queue, leaving it ``cancelled``."""
        item.state, item.cancelled, item.why = LEFT, True, None
        self.cond.notify_all()

    def cancel_for(self, job: Job) -> None:
        """Cancel every pending item of ``job`` (job disabled or deleted)."""
        for item in self.pending():
            if item.job is job:
                self.cancel(item)

    def idle(self) -> bool:
        """True when nothing is queued or running."""
        return not self.pending() and not self.running

    # -- scheduler thread ---------------------------------------------------
    def start(self) -> None:
        """Start the scheduler thread (``Queue.maintain`` loop)."""
        with self.cond:
            self._stopping = False
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="jenkins-double-queue")
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the scheduler; running builds are left to finish on their own."""
        with self.cond:
            self._stopping = True
            self.cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        with self.cond:
            while not self._stopping:
                self.cond.wait(self._maintain())

    def _maintain(self) -> Optional[float]:
        """Move items along; return seconds until the next quiet period ends."""
        now = now_ms()
        next_wake: Optional[float] = None
        for item in self.pending():
            if now < item.quiet_until:
                left = (item.quiet_until - now) / 1000
                item.state = WAITING
                item.why = f"In the quiet period. Expires in {left:.1f} sec"
                next_wake = left if next_wake is None else min(next_wake, left)
                continue
            job = item.job
            running = [b for b in job.builds.values() if b.building]
            if running and not job.concurrent:
                item.state = BLOCKED
                item.why = (f"Build #{running[-1].number} is already in "
                            "progress (ETA: N/A)")
                continue
            if not self.computer.can_take(job.item_type):
                if item.state != BUILDABLE:
                    item.buildable_since = now
                item.state = BUILDABLE
                item.why = "Waiting for next available executor"
                continue
            self._start_build(item)
        return next_wake

    def _start_build(self, item: QueueItem) -> None:
        job = item.job
        number = job.next_build_number
        job.next_build_number += 1
        build = Build(job, number, item.id, list(item.actions))
        build.console = f"Started by user {item.user}\n"
        if job.item_type is cfg.PIPELINE and _declarative(self.root, job.config_xml):
            # The run's first step saves the job with the declarative actions
            # (pipeline-model-definition Utils.groovy, see xstream.py).
            job.config_xml = self.root.xstream.declarative_run(job.config_xml)
        job.builds[number] = build
        item.state, item.why, item.build = LEFT, None, build
        self.running.add(build)
        self.computer.take(build)
        params = build.params()
        thread = threading.Thread(
            target=self._execute, args=(build, job.config_xml, params),
            daemon=True, name=f"executor {job.full_name} #{number}")
        thread.start()

    def _execute(self, build: Build, config_xml: str, params: dict) -> None:
        # Runs outside the lock so the hook can take its time while clients poll.
        outcome: Optional[tuple] = None
        try:
            outcome = _check_outcome(
                self.hook()(build.job.full_name, config_xml, dict(params)))
        finally:
            # If the hook raised, the build still completes (as FAILURE) so
            # pollers do not hang; the exception then reaches threading.excepthook.
            raised = sys.exc_info()[1]  # the hook's exception, if that is why we are here
            result, console, description = outcome or (
                "FAILURE", f"ERROR: on_build raised {raised!r}\n", None)
            if console and not console.endswith("\n"):
                console += "\n"
            with self.cond:
                build.finish(result, f"{build.console}{console}Finished: {result}\n",
                             description)
                self.running.discard(build)
                self.computer.release(build)
                self.cond.notify_all()


def _declarative(root: Jenkins, config_xml: str) -> bool:
    """Whether the job runs a declarative pipeline: an inline script with a top-level
    ``pipeline {``; a script from SCM when the double is told so (it cannot read the repo;
    shipway's Jenkinsfiles are declarative)."""
    found = re.search(r"<definition class=\"([^\"]+)\"", config_xml)
    if found is None:
        return False
    if found.group(1).endswith("CpsScmFlowDefinition"):
        return bool(root.scm_declarative)
    script = re.search(r"<script>(.*?)</script>", config_xml, re.S)
    return bool(script and re.search(r"(?m)^\s*pipeline\s*\{", script.group(1)))


def _check_outcome(outcome: tuple) -> tuple:
    if not isinstance(outcome, tuple) or len(outcome) not in (2, 3):
        raise TypeError("on_build must return (result, console[, description]),"
                        f" got {outcome!r}")
    result, console, *rest = outcome
    if result not in RESULTS:
        raise ValueError(f"on_build result must be one of {RESULTS}, got {result!r}")
    return result, console or "", rest[0] if rest else None
