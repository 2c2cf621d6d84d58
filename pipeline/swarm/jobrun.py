"""A job service's run, read from the service and its tasks (pure: no I/O, no clock).

A `replicated-job` or `global-job` service runs its tasks to completion instead of keeping
them running. Swarm counts its runs: JobStatus.JobIteration.Index is 0 when it is created and
goes up by one on every update of its spec, whatever changed (swarmkit's controlapi), which is
what runs the job again (`docker service update --force` bumps TaskTemplate.ForceUpdate for
that); each task carries the iteration it was made for. Tasks of a job are never pruned by
the task reaper, so the tasks of the current run stay listed.

A run is complete when every task it needs exited 0: TotalCompletions tasks of a replicated
job (each in a slot of its own), one per node swarm gave it to for a global job. A task that
fails is run again by swarm in its slot as the restart policy says (swarmkit's restart
supervisor treats condition `any` as `on-failure` for jobs): with condition `none` it is the
only attempt; with `max_attempts: N`, N + 1 attempts; with no max_attempts, swarm never gives
up. The run has failed once a slot has used every attempt, and, when swarm never gives up, at
its first failed task (shipway does not wait out the timeout on a job that fails: swarm goes
on restarting it, and says so).
"""
from dataclasses import dataclass

from pipeline.swarm.spec import PENDING_STATES

MODES = {"ReplicatedJob": "replicated-job", "GlobalJob": "global-job"}
FAILED_STATES = ("failed", "rejected")


def is_job(spec):
    """True for the spec of a replicated-job or global-job service."""
    return any(key in ((spec or {}).get("Mode") or {}) for key in MODES)


def iteration(service):
    """The service's current job iteration (swarm's JobStatus.JobIteration.Index; the
    engine leaves the 0 of a new job out)."""
    return ((service.get("JobStatus") or {}).get("JobIteration") or {}).get("Index") or 0


def task_iteration(task):
    """The job iteration a task was made for."""
    return (task.get("JobIteration") or {}).get("Index") or 0


def attempts(spec):
    """How many times swarm runs one slot of the job before it gives up: 1 with restart
    condition `none`, max_attempts + 1, or None (no max_attempts: it never gives up)."""
    policy = (spec.get("TaskTemplate") or {}).get("RestartPolicy") or {}
    if policy.get("Condition") == "none":
        return 1
    most = policy.get("MaxAttempts") or 0
    return most + 1 if most else None


@dataclass(frozen=True)
class Run:
    """One run of a job: its iteration, its state (running, completed or failed), how many of
    the tasks it needs completed, the exit codes of its tasks that ended (oldest first), when
    it started (JobStatus.LastExecution) and when its last task ended, and in words why it
    stands where it stands. `tasks`: the ids of its tasks, oldest first."""

    iteration: int
    state: str
    completed: int
    wanted: int
    exit_codes: tuple = ()
    started: str = ""
    finished: str = ""
    reason: str = ""
    tasks: tuple = ()

    def summary(self):
        """JSON-ready."""
        return {"iteration": self.iteration, "state": self.state, "completed": self.completed,
                "wanted": self.wanted, "exit_codes": list(self.exit_codes),
                "started": self.started, "finished": self.finished}


def _slot(task, replicated):
    # each task of a replicated job has a slot of its own (0 is left out); a global job's
    # slot is its node
    return (task.get("Slot") or 0) if replicated else task.get("NodeID")


def _exit_code(task):
    status = task["Status"]
    if status["State"] == "complete":
        return 0
    return (status.get("ContainerStatus") or {}).get("ExitCode")


def run_of(service, tasks):
    """The Run of the service's current iteration, from its tasks as the engine lists them."""
    spec = service["Spec"]
    index = iteration(service)
    run = sorted((t for t in tasks if task_iteration(t) == index), key=lambda t: t["CreatedAt"])
    replicated = "ReplicatedJob" in (spec.get("Mode") or {})
    if replicated:
        wanted = (spec["Mode"]["ReplicatedJob"] or {}).get("TotalCompletions") or 1
    else:
        wanted = max(1, len({t.get("NodeID") for t in run}))
    done = [t for t in run if t["Status"]["State"] == "complete"]
    ended = [t for t in run if t["Status"]["State"] == "complete"
             or t["Status"]["State"] in FAILED_STATES]
    common = dict(iteration=index, completed=len(done), wanted=wanted,
                  exit_codes=tuple(_exit_code(t) for t in ended),
                  started=(service.get("JobStatus") or {}).get("LastExecution", ""),
                  tasks=tuple(t["ID"] for t in run))
    failed = _gave_up(run, replicated, attempts(spec))
    if failed:
        return Run(state="failed", finished=max(_at(t) for t in ended),
                   reason=_failure(failed, done, wanted, attempts(spec)), **common)
    if len(done) >= wanted and not any(t["Status"]["State"] in PENDING_STATES | {"running"}
                                       for t in run):
        return Run(state="completed", finished=max(_at(t) for t in done),
                   reason=f"job completed: {len(done)}/{wanted} tasks exited 0", **common)
    return Run(state="running", reason=f"{len(done)}/{wanted} tasks of the job completed",
               **common)


def _at(task):
    return task["Status"].get("Timestamp", "")


def _gave_up(run, replicated, allowed):
    """The failed tasks of the slots swarm runs no more (each slot's last one); with no
    limit on attempts, every failed task (see the module's docstring)."""
    by_slot = {}
    for task in run:
        if task["Status"]["State"] in FAILED_STATES:
            by_slot.setdefault(_slot(task, replicated), []).append(task)
    return [tasks[-1] for tasks in by_slot.values() if allowed is None or len(tasks) >= allowed]


def _failure(failed, done, wanted, allowed):
    """'task ID exited 3 (task: non-zero exit (3)); 0/2 tasks completed' and what swarm
    does next."""
    first = failed[0]
    code = _exit_code(first)
    err = first["Status"].get("Err") or first["Status"].get("Message") or ""
    how = f"exited {code}" if code not in (None, 0) else first["Status"]["State"]
    if err == f"task: non-zero exit ({code})":
        err = ""    # what `how` says already
    text = f"task {first['ID'][:12]} {how}" + (f" ({err})" if err else "")
    if len(failed) > 1:
        text += f" and {len(failed) - 1} more"
    text += f"; {len(done)}/{wanted} tasks completed"
    if allowed is None:
        text += ("; swarm goes on restarting it (its restart policy sets no max_attempts: "
                 "set deploy.restart_policy.condition: none, or max_attempts)")
    elif allowed > 1:
        text += f" (each slot ran {allowed} times, as the restart policy allows)"
    return text
