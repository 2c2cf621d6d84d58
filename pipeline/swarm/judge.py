"""The watch's judgement: one Snapshot of a service, judged against what a write expects
(expect.Expectation) and what was seen before (Memory). Pure: no I/O, no clock; the Watcher
(pipeline/swarm/watch.py) reads the snapshots and acts on the verdicts.

Swarm reports an update's fate in UpdateStatus (updating -> completed, or paused, or
rollback_started -> rollback_completed). A task with a HEALTHCHECK stays `starting` until it is
healthy, so `running` tasks on the desired image mean healthy ones.

An update is settled before swarm says `completed`: swarm takes its failure action only for a
task that fails within `monitor` of the moment the leader saw it running (swarmkit's updater),
and after the last batch it idles `delay` before marking the update completed. So once every
task of this update runs healthy and the newest one has run for `monitor`, nothing can undo
the update any more: the verdict is success then, as `docker service update --detach=false`
says, instead of idling through the last delay. The leader's timestamps are read on this
machine's clock through a LeaderClock, which may err late, never early.

A job service (Follow.JOB) is judged by its current run (pipeline/swarm/jobrun.py): complete
when every task the run needs has completed (exit 0), failed once a task failed that swarm
does not run again.
"""
import dataclasses
import enum
import re
from dataclasses import dataclass, field
from typing import Optional

from pipeline.swarm import jobrun
from pipeline.swarm.expect import Follow
from pipeline.swarm.failure import counts_for, event_note, health_failure, replaced
from pipeline.swarm.replicas import (
    LeaderClock,
    desired_count,
    others_remain,
    replaced_by,
    replica_slots,
    serving,
    settled_at,
    short_image,
)
from pipeline.swarm.spec import PENDING_STATES, image_of, task_image

POLL_SECONDS = 0.3
FINAL_POLL = 0.05         # settled, waiting only for old tasks whose exit no event tells
FAILED_STATES = {"failed", "rejected"}
# A service's task that ended by itself: a failure to start for a create or a scale, as for
# swarm's updater. `complete` too: a task is not meant to complete, and one whose health
# check failed ends there when its process exits 0 on the stop signal.
ENDED_STATES = FAILED_STATES | {"complete"}
STOPPED_STATES = ("complete", "shutdown")
# update states whose message names the task that failed; later messages do not
WHY_STATES = ("paused", "rollback_started", "rollback_paused")
_TASK_ID = re.compile(r"\btask ([a-z0-9]{25})\b")


@dataclass
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
    job: dict = field(default_factory=dict)   # a job's run: jobrun.Run.summary(), last_lines
    rolled_back: bool = False   # analysis restored the release before (steps.Steps)
    paused: str = ""            # analysis held the update, inconclusive: in which window


@dataclass(frozen=True)
class Snapshot:
    """What one poll read: the service and its tasks as the Engine listed them, the local
    time once both were read, and what else the judgement needs (JSON-ready, so real cases
    can be recorded and judged again: tests/fixtures/watch)."""

    service: dict
    tasks: list
    read_at: float
    nodes: dict = field(default_factory=dict)    # node id -> hostname, for the task lines
    down: Optional[dict] = None   # node id -> hostname swarm sees not ready; None: not asked
    stopped: frozenset = frozenset()   # container ids the engine said exited (events)
    exits_node: Optional[str] = None   # the node whose container exits are followed, if any
    health: dict = field(default_factory=dict)   # task id -> its container's State.Health
    named: Optional[dict] = None   # the task the update status names, inspected: ID, Status,
    #                                Health (read when no error of it is known)


@dataclass(frozen=True)
class Memory:
    """What the judgement remembers between snapshots of one Watcher."""

    offset: Optional[float] = None      # the LeaderClock's estimate (leader - local)
    why: str = ""                       # the update message that named the failed task
    errors: dict = field(default_factory=dict)   # task id -> (timestamp, error), this image
    checked: frozenset = frozenset()    # stopped tasks whose health was read and passed
    # ids of the tasks on the expected image seen failed: swarm keeps only the last few dead
    # tasks per slot (the task history limit), so the count is of every one ever seen
    failed: frozenset = frozenset()


class Status(enum.Enum):
    WAITING = "waiting"
    CONVERGED = "converged"
    FAILED = "failed"


@dataclass
class Verdict:
    """The judgement of one snapshot. `outcome` is filled in whatever the status (while
    waiting: what a timeout would report); `look_again`: seconds until the next poll is
    worth it (the settle time, when it is nearer than a poll)."""

    status: Status
    outcome: Outcome
    memory: Memory
    look_again: float = POLL_SECONDS
    settles_at: Optional[float] = None


@dataclass(frozen=True)
class Needs:
    """What a poll must read beyond the service and its tasks before they can be judged."""

    health: tuple = ()          # tasks stopped without an error: their containers' health
    named: Optional[str] = None   # the id of the task the update names, no error known
    old: bool = False           # an old task may still run: follow exits, ask which nodes
    #                             are down


def update_status(service, since=None):
    """(state, message) of the service's UpdateStatus when it is this write's (its StartedAt
    is not `since`), else ("", "")."""
    status = service.get("UpdateStatus") or {}
    if not status or status.get("StartedAt") == since:
        return "", ""
    return status.get("State", ""), status.get("Message", "")


def report_lines(before, after, since, run=None):
    """The lines that tell what changed from snapshot `before` (None: `after` is the first)
    to `after`: one per task whose state or desired state changed (at the first snapshot,
    the tasks already stopped are history, not news), one when this write's update state
    or message changed. `run`: a job's iteration waited for (run_iteration): only its
    tasks are news."""
    seen = {t["ID"]: _task_key(t) for t in before.tasks} if before else {}
    lines = []
    for task in sorted(_of_run(after.tasks, run), key=lambda t: (t.get("Slot", 0),
                                                                  t["CreatedAt"])):
        key, previous = _task_key(task), seen.get(task["ID"])
        if previous == key or (before is None and key[0] in STOPPED_STATES):
            continue
        change = f"{previous[0]} -> {key[0]}" if previous else key[0]
        line = (f"task {task.get('Slot', '-')} {task['ID'][:12]} on "
                f"{after.nodes.get(task.get('NodeID'), '-')}: {change} "
                f"(desired {key[1]}, {short_image(task_image(task))})")
        lines.append(line + event_note(task))
    state, message = update_status(after.service, since)
    # Compared with the status before as it was, this write's or not: a second write of
    # the same wait (the canary's rest) that starts in the same state is no news.
    if (state or message) and (before is None or (state, message) != update_status(
            before.service)):
        lines.append(f"update state: {state}" + (f" ({message})" if message else ""))
    return lines


def run_iteration(expect, snap):
    """The job iteration a Follow.JOB wait judges (its expectation's, else the service's
    current one); None for any other wait."""
    if expect.follow is not Follow.JOB:
        return None
    return jobrun.iteration(snap.service) if expect.iteration is None else expect.iteration


def _of_run(tasks, run):
    """`tasks`, or only those of job iteration `run` (a task of an earlier run of the job is
    neither news nor a failure of this one)."""
    if run is None:
        return tasks
    return [t for t in tasks if jobrun.task_iteration(t) == run]


def _task_key(task):
    return task["Status"]["State"], task.get("DesiredState")


def _why(service, since, memory):
    state, message = update_status(service, since)
    return message if state in WHY_STATES else memory.why


def needs(expect, service, tasks, stopped, memory):
    """What to read for `judge` besides the service and tasks (see Needs)."""
    health = unexplained_stops(tasks, memory)
    known = set(memory.errors) | {t["ID"] for t in tasks if task_image(t) == expect.image
                                  and _listed_error(t["Status"])}
    named = _TASK_ID.search(_why(service, expect.since, memory) or "")
    old = False
    if expect.follow is not Follow.JOB:
        live = [t for t in tasks if t.get("DesiredState") == "running"]
        old = (len(replica_slots(live, expect.image)) == desired_count(service["Spec"], live)
               and others_remain(_not_stopped(tasks, stopped), expect.image))
    return Needs(health, named.group(1) if named and named.group(1) not in known else None, old)


def unexplained_stops(tasks, memory):
    """The tasks swarm stopped without an error that are not judged yet: their containers'
    health says whether a failing probe was why."""
    return tuple(t for t in tasks if not t["Status"].get("Err")
                 and t["Status"]["State"] in STOPPED_STATES
                 and t.get("DesiredState") == "shutdown" and not replaced(t)
                 and t["ID"] not in memory.errors and t["ID"] not in memory.checked)


def _listed_error(status):
    return status.get("Err") or (status["State"] in FAILED_STATES and status.get("Message"))


def _not_stopped(tasks, stopped):
    return [t for t in tasks
            if (t["Status"].get("ContainerStatus") or {}).get("ContainerID") not in stopped]


def task_errors(tasks, health, image, memory):
    """The memory with the errors of `tasks` learnt: the task's own (Err, or a failed task's
    message), else the health failure of a stopped task's container (`health`: task id ->
    State.Health); a stopped task whose probe passed is not read again."""
    errors, checked = dict(memory.errors), set(memory.checked)
    for task in tasks:
        err = _listed_error(task["Status"])
        if not err and task["ID"] in health:
            # A container that exits cleanly when swarm stops it for failing its health
            # check leaves no Err on the task; its health log says what went wrong.
            err = health_failure(health[task["ID"]])
            if not err:
                checked.add(task["ID"])
        if err and counts_for(task, image):   # not a task swarm stopped (replaced)
            errors[task["ID"]] = (task["Status"].get("Timestamp", ""), err)
    return dataclasses.replace(memory, errors=errors, checked=frozenset(checked))


def task_error(memory, named=None):
    """The error of the task that failed the update: the one the update status names (from
    the errors seen, else `named`, the task inspected), else the newest error seen."""
    found = _TASK_ID.search(memory.why or "")
    if found:
        err = memory.errors.get(found.group(1))
        if err:
            return err[1]
        if named and named["ID"] == found.group(1):
            status = named["Status"]
            text = (status.get("Err") or health_failure(named.get("Health"))
                    or status.get("Message"))
            if text:
                return text
    if not memory.errors:
        return ""
    return max(memory.errors.values())[1]


def judge(expect, snap, memory, poll=POLL_SECONDS):
    """The Verdict on `snap` (a Snapshot) for `expect` (an expect.Expectation), given the
    `memory` of the snapshots before it; the verdict carries the memory after this one."""
    clock = LeaderClock(memory.offset)
    clock.observe([snap.service, *snap.tasks], snap.read_at)
    memory = dataclasses.replace(memory, offset=clock.offset,
                                 why=_why(snap.service, expect.since, memory))
    memory = task_errors(_of_run(snap.tasks, run_iteration(expect, snap)), snap.health,
                         expect.image, memory)
    state, message = update_status(snap.service, expect.since)
    live = [t for t in snap.tasks if t.get("DesiredState") == "running"]
    slots = replica_slots(live, expect.image)
    outcome = Outcome(False, "", state, memory.why or message, image_of(snap.service["Spec"]),
                      len(slots), desired_count(snap.service["Spec"], live),
                      task_error(memory, snap.named))
    if expect.follow is Follow.JOB:
        return _judge_job(expect, snap, memory, outcome)
    failed = _update_failed(expect, snap, outcome)
    if failed is not None:
        return Verdict(Status.FAILED, failed, memory)
    left = _not_stopped(snap.tasks, snap.stopped)
    old = others_remain(left, expect.image, snap.down or {})
    converged = len(slots) == outcome.desired and not old
    if expect.follow is Follow.TASKS:
        return _judge_tasks(expect, snap, memory, outcome, converged, poll)
    if expect.served and converged:
        outcome.ok, outcome.reason = True, "only the new release runs"
        return Verdict(Status.CONVERGED, outcome, memory)
    mode = expect.follow.value
    if state == ("completed" if mode == "update" else "rollback_completed") and converged:
        outcome.ok, outcome.reason = True, f"{mode} completed"
        return Verdict(Status.CONVERGED, outcome, memory)
    # Known as soon as every replica runs healthy, so the loop wakes at that moment;
    # success also needs the old tasks gone.
    settles = None
    if state == ("updating" if mode == "update" else "rollback_started") \
            and len(slots) == outcome.desired:
        settles = settled_at(clock, snap.service, live, mode)
    if converged and settles is not None and snap.read_at >= settles:
        outcome.ok = True
        outcome.reason = f"{mode} converged: every task healthy through the monitor period"
        return Verdict(Status.CONVERGED, outcome, memory, settles_at=settles)
    remaining = [t for t in left if task_image(t) != expect.image] if old else []
    return Verdict(Status.WAITING, outcome, memory,
                   _look_again(snap, settles, remaining, poll), settles)


def _update_failed(expect, snap, outcome):
    """The Outcome when swarm gave up on the update, or another change replaced it; None
    otherwise. Fills in `outcome`."""
    state, mode = outcome.update_state, expect.follow.value
    if expect.follow in (Follow.UPDATE, Follow.ROLLBACK):
        if state in ("paused", "rollback_paused"):
            outcome.reason = f"swarm paused the {mode}"
            # The spec names the new image; what serves is what the tasks run.
            outcome.running_image = serving(snap.tasks)
            return outcome
        if expect.follow is Follow.UPDATE and state == "rollback_completed":
            outcome.reason = "swarm rolled the update back"
            return outcome
    if outcome.running_image != expect.image and not state.startswith("rollback"):
        # Someone else (another deploy, a rollback, `docker service update`) changed the
        # service since: what we wait for will never come. (Swarm's own rollback changes
        # the image too, but says so in the update state.)
        outcome.reason = ("another change to the service replaced this one: "
                          + replaced_by(snap.service["Spec"]))
        # The update message is the other change's; what serves is what the tasks run.
        outcome.update_message = ""
        outcome.running_image = serving(snap.tasks)
        return outcome
    return None


def _judge_tasks(expect, snap, memory, outcome, converged, poll):
    """A write judged by its tasks alone: converged, or too many failed tasks."""
    if converged:
        outcome.ok, outcome.reason = True, "all replicas running"
        return Verdict(Status.CONVERGED, outcome, memory)
    failed = memory.failed | {t["ID"] for t in snap.tasks
                              if t["Status"]["State"] in ENDED_STATES
                              and task_image(t) == expect.image}
    memory = dataclasses.replace(memory, failed=frozenset(failed))
    if outcome.desired and len(failed) >= max(3, outcome.desired + 1):
        outcome.reason = f"{len(failed)} tasks failed to start"
        return Verdict(Status.FAILED, outcome, memory)
    return Verdict(Status.WAITING, outcome, memory, poll)


def _judge_job(expect, snap, memory, outcome):
    """A job service's run (jobrun.run_of): complete when every task it needs completed
    (exit 0), failed when a slot used its last attempt, or when another write started
    another run."""
    failed = _update_failed(expect, snap, outcome)
    if failed is not None:
        return Verdict(Status.FAILED, failed, memory)
    run = jobrun.run_of(snap.service, snap.tasks)
    outcome.running, outcome.desired, outcome.job = run.completed, run.wanted, run.summary()
    if expect.iteration is not None and run.iteration != expect.iteration:
        outcome.reason = ("another change to the service started another run of the job "
                          f"(iteration {run.iteration}; this one's was {expect.iteration})")
        return Verdict(Status.FAILED, outcome, memory)
    outcome.reason = run.reason
    if run.state == "failed":
        return Verdict(Status.FAILED, outcome, memory)
    if run.state == "completed":
        outcome.ok = True
        return Verdict(Status.CONVERGED, outcome, memory)
    return Verdict(Status.WAITING, outcome, memory)


def _look_again(snap, settles, old, poll):
    """Seconds to the next poll: a poll, or less when the update settles sooner; once it
    has settled, FINAL_POLL while an old task may stop without an event saying so."""
    if settles is None:
        return poll
    left = settles - snap.read_at
    if left > 0:
        return min(poll, max(0.01, left))
    # past it, only old tasks are waited for: a stop on this engine wakes the loop at once
    # (the Watcher follows the exits); one on another node is polled for
    if snap.exits_node is None or any(t.get("NodeID") != snap.exits_node for t in old):
        return FINAL_POLL
    return poll


def pending_on_down_nodes(snap, image):
    """The tasks of `image` not yet running in `snap`: when the wait times out, the Watcher
    asks which nodes are down only if there are some."""
    return [t for t in snap.tasks if task_image(t) == image
            and t["Status"]["State"] in PENDING_STATES]


def timed_out(last, snap, image, timeout, disconnected=""):
    """The Outcome of a wait that ran out of time: `last`, the outcome of the last verdict
    (None: the engine never answered), `snap` the last snapshot (its `down` read now),
    `disconnected` why the engine does not answer, while it does not."""
    last = dataclasses.replace(last or Outcome(False, "no answer from the engine"), ok=False)
    if last.job and not disconnected:
        job = last.job
        last.reason = (f"timed out after {timeout:.0f}s: {job['completed']}/{job['wanted']} "
                       f"tasks of the job completed (iteration {job['iteration']}; swarm goes "
                       "on with the run)" + _on_down_nodes(snap, image))
    elif disconnected:
        last.reason = (f"timed out after {timeout:.0f}s waiting for the Docker "
                       f"Engine to answer again ({disconnected}); last seen: "
                       f"update state {last.update_state or 'none'}, "
                       f"{last.running}/{last.desired} tasks running the new image")
    else:
        last.reason = (f"timed out after {timeout:.0f}s: update state "
                       f"{last.update_state or 'none'}, {last.running}/"
                       f"{last.desired} tasks running the new image"
                       + _on_down_nodes(snap, image))
    last.running_image = serving(snap.tasks if snap else ())
    return last


def _on_down_nodes(snap, image):
    """'; node w1 is down with task ... on it', for the tasks of `image` not yet running
    on nodes the swarm sees down: swarm's rolling update waits for such a task and does
    not go on by itself (the node is gone, not the task)."""
    if snap is None:
        return ""
    down = snap.down or {}
    stuck = [f"node {down[t['NodeID']]} is down with task {t.get('Slot', '-')} "
             f"{t['ID'][:12]} of this update on it ({t['Status']['State']})"
             for t in pending_on_down_nodes(snap, image) if t.get("NodeID") in down]
    return "; " + "; ".join(stuck) if stuck else ""
