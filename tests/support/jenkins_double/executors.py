"""The built-in node's computer and its executors, as ``computer/api/json`` shows them
(core hudson/model/Computer.java, Executor.java, OneOffExecutor.java, ComputerSet.java).

A freestyle build takes one of the node's ``numExecutors`` executors (the lowest free
number here). A Pipeline build is a flyweight task: ``Queue.makeFlyWeightTaskBuildable``
starts it on a ``OneOffExecutor`` (number -1) of the built-in node, made for that build
and gone when it ends; it needs no free executor and is not counted as busy. Every
executor exports ``currentExecutable``, the build it runs (null when idle), and the
build exports that executor as ``executor`` (``Run#getExecutor``). Inside ``node {}``
real Jenkins would also hold a regular executor for a ``PlaceholderExecutable``; the
double runs no steps, so there is none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

from . import config as cfg
from .exported import Exported, Prop
from .model import now_ms

if TYPE_CHECKING:
    from .jobs import Build
    from .model import Jenkins

DAY_MS = 24 * 3600 * 1000


class Executor(Exported):
    """``hudson.model.Executor``: one slot of a computer."""

    jenkins_class = "hudson.model.Executor"

    def __init__(self, number: int) -> None:
        self.number = number
        self.build: Optional["Build"] = None
        self.started = 0
        self.estimated = -1  # executableEstimatedDuration, -1 while idle

    def run(self, build: "Build") -> None:
        """Start executing ``build``; it exports this executor while it runs."""
        self.build, self.started = build, now_ms()
        self.estimated = build.job.estimated_duration()
        build.executor = self

    def done(self) -> None:
        """The build ended: back to idle."""
        if self.build is not None:
            self.build.executor = None
        self.build, self.estimated = None, -1

    def progress(self) -> int:
        """``Executor.getProgress``: percent of the estimate, capped at 99; -1 unknown."""
        if self.estimated <= 0:
            return -1
        return min(99, (now_ms() - self.started) * 100 // self.estimated)

    def likely_stuck(self) -> bool:
        """``isLikelyStuck``: 10 times the estimate, or a day without one."""
        if self.build is None:
            return False
        elapsed = now_ms() - self.started
        return elapsed > self.estimated * 10 if self.estimated >= 0 else elapsed > DAY_MS

    def exported(self) -> Iterable[Prop]:
        return (Prop("currentExecutable", lambda: self.build),
                Prop("idle", lambda: self.build is None),
                Prop("likelyStuck", self.likely_stuck),
                Prop("number", lambda: self.number),
                Prop("progress", self.progress))


class OneOffExecutor(Executor):
    """``hudson.model.OneOffExecutor``: the flyweight executor of one Pipeline build."""

    jenkins_class = "hudson.model.OneOffExecutor"

    def __init__(self) -> None:
        super().__init__(-1)


class BuiltInComputer(Exported):
    """The built-in node's ``Hudson$MasterComputer`` ("Built-In Node" since 2.307)."""

    jenkins_class = "hudson.model.Hudson$MasterComputer"

    def __init__(self, root: "Jenkins") -> None:
        self.executors = [Executor(n) for n in range(root.num_executors)]
        self.one_off: list[OneOffExecutor] = []

    def free_executor(self) -> Optional[Executor]:
        """The lowest-numbered idle executor, None when all are busy."""
        return next((e for e in self.executors if e.build is None), None)

    def can_take(self, build_type: cfg.ItemType) -> bool:
        """Whether a build of that type could start now (a flyweight always can)."""
        return build_type is cfg.PIPELINE or self.free_executor() is not None

    def take(self, build: "Build") -> Executor:
        """Run ``build``: on a new one-off executor if Pipeline, else on a free one."""
        if build.job.item_type is cfg.PIPELINE:
            executor: Optional[Executor] = OneOffExecutor()
            self.one_off.append(executor)  # type: ignore[arg-type]
        else:
            executor = self.free_executor()
        assert executor is not None, "the queue starts a build only when it can"
        executor.run(build)
        return executor

    def release(self, build: "Build") -> None:
        """``build`` ended: free its executor (a one-off one goes away)."""
        executor = build.executor
        if isinstance(executor, Executor):
            executor.done()
            if isinstance(executor, OneOffExecutor):
                self.one_off.remove(executor)

    def busy(self) -> int:
        """``countBusy``: busy regular executors (one-off ones do not count)."""
        return sum(1 for e in self.executors if e.build is not None)

    def idle(self) -> bool:
        """``Computer.isIdle``: no one-off executor and every executor idle."""
        return not self.one_off and self.busy() == 0

    def exported(self) -> Iterable[Prop]:
        return (Prop("actions", lambda: []),
                Prop("assignedLabels", lambda: [{"name": "built-in"}]),
                Prop("description", lambda: "the Jenkins controller's built-in node"),
                Prop("displayName", lambda: "Built-In Node"),
                Prop("executors", lambda: list(self.executors)),
                Prop("icon", lambda: "symbol-computer"),
                Prop("iconClassName", lambda: "symbol-computer"),
                Prop("idle", self.idle),
                Prop("jnlpAgent", lambda: False),
                Prop("launchSupported", lambda: True),
                Prop("loadStatistics", lambda: {"_class": "hudson.model.Label$1"}),
                Prop("manualLaunchAllowed", lambda: True),
                Prop("monitorData", lambda: {}),
                Prop("numExecutors", lambda: len(self.executors)),
                Prop("offline", lambda: False),
                Prop("offlineCause", lambda: None),
                Prop("offlineCauseReason", lambda: ""),
                Prop("oneOffExecutors", lambda: list(self.one_off)),
                Prop("temporarilyOffline", lambda: False))


class ComputerSet(Exported):
    """``computer/``: core hudson/model/ComputerSet.java (busyExecutors, computer inline,
    displayName, totalExecutors)."""

    jenkins_class = "hudson.model.ComputerSet"

    def __init__(self, computer: BuiltInComputer) -> None:
        self.computer = computer

    def exported(self) -> Iterable[Prop]:
        return (Prop("busyExecutors", self.computer.busy),
                Prop("computer", lambda: [self.computer], inline=True),
                Prop("displayName", lambda: "Nodes"),
                Prop("totalExecutors", lambda: len(self.computer.executors)))
