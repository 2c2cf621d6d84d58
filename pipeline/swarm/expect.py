"""What a wait expects of a service after a write: the contract between the plan, which
decides it, and the watch, which judges the service against it (pure, no I/O)."""
import enum
from dataclasses import dataclass
from typing import Optional


class Follow(enum.Enum):
    """How the outcome of a write is judged."""

    TASKS = "tasks"          # by the tasks alone: a create, a scale, a label-only change
    UPDATE = "update"        # swarm's rolling update of the task template (UpdateStatus)
    ROLLBACK = "rollback"    # swarm's own rollback to PreviousSpec (`rollback=previous`)
    JOB = "job"              # a job service's run: every task it needs completed (exit 0)


@dataclass(frozen=True)
class Expectation:
    """The service must run `image` healthy on every replica, judged as `follow` says.

    `since`: the UpdateStatus.StartedAt read before the write. The status swarm keeps from
    the update before is still there for a moment after a write, so only a status that
    started at another time is this write's. None: there was no status before.
    `iteration`: for Follow.JOB, the job iteration the run waited for is (swarm's
    JobStatus.JobIteration.Index after the write); None: whichever is current.

    `served`: met as soon as only `image` serves (every replica runs it healthy and no
    container of another image runs any more), before swarm's monitor period has passed:
    the moment a bake window begins (swarm/steps.py)."""

    image: str
    follow: Follow
    since: Optional[str] = None
    iteration: Optional[int] = None
    served: bool = False
