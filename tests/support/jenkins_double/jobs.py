"""Buildable jobs (freestyle, pipeline), their builds and build actions."""

from __future__ import annotations

from typing import Iterable, Optional

from . import config as cfg
from .exported import Exported, Prop
from .model import PERMALINKS, RESULT_COLORS, Item, now_ms

RESULTS = tuple(RESULT_COLORS)
# Jenkins' Result ordinal: lastSuccessfulBuild means "UNSTABLE or better".
_ORDINAL = {"SUCCESS": 0, "UNSTABLE": 1, "FAILURE": 2, "NOT_BUILT": 3,
            "ABORTED": 4}


class UserIdCause(Exported):
    """``Cause$UserIdCause``: "Started by user X"."""

    jenkins_class = "hudson.model.Cause$UserIdCause"

    def __init__(self, user: str) -> None:
        self.user = user

    def exported(self) -> Iterable[Prop]:
        return (Prop("shortDescription", lambda: f"Started by user {self.user}", 3),
                Prop("userId", lambda: self.user, 3),
                Prop("userName", lambda: self.user, 3))


class CauseAction(Exported):
    """Carries the causes of a queue item or build."""

    jenkins_class = "hudson.model.CauseAction"

    def __init__(self, user: str) -> None:
        self.causes = [UserIdCause(user)]

    def exported(self) -> Iterable[Prop]:
        return (Prop("causes", lambda: self.causes, 2),)


class ParameterValue(Exported):
    """A parameter value (String/Text/Boolean/Choice-as-String/Password)."""

    def __init__(self, definition: cfg.ParamDef, value: str) -> None:
        self.definition, self.value = definition, value
        kind = definition.kind.replace("Definition", "Value")
        if kind == "ChoiceParameterValue":
            kind = "StringParameterValue"  # Jenkins stores choices as strings
        self.jenkins_class = f"hudson.model.{kind}"

    def json_value(self):
        """The value as Jenkins exports it (booleans as JSON booleans)."""
        if self.definition.kind == "BooleanParameterDefinition":
            return self.value == "true"
        if self.definition.kind == "PasswordParameterDefinition":
            return None  # a Secret is never exported
        return self.value

    def exported(self) -> Iterable[Prop]:
        return (Prop("name", lambda: self.definition.name, 3),
                Prop("value", self.json_value, 3))


class ParametersAction(Exported):
    """The parameters a queue item/build carries."""

    jenkins_class = "hudson.model.ParametersAction"

    def __init__(self, values: list[ParameterValue]) -> None:
        self.values = values

    def exported(self) -> Iterable[Prop]:
        return (Prop("parameters", lambda: self.values, 2),)

    def as_dict(self) -> dict[str, str]:
        """Name -> string value, what the build hook receives."""
        return {v.definition.name: v.value for v in self.values}


class ParameterDefinition(Exported):
    """Exported form of a :class:`config.ParamDef`."""

    def __init__(self, definition: cfg.ParamDef) -> None:
        self.definition = definition
        self.jenkins_class = f"hudson.model.{definition.kind}"

    def exported(self) -> Iterable[Prop]:
        d = self.definition
        props = [Prop("defaultParameterValue",
                      lambda: ParameterValue(d, d.default), 3),
                 Prop("description", lambda: d.description, 3),
                 Prop("name", lambda: d.name, 3),
                 Prop("type", lambda: d.kind, 3)]
        if d.kind == "ChoiceParameterDefinition":
            props.append(Prop("choices", lambda: list(d.choices), 3))
        return props


class ParametersDefinitionProperty(Exported):
    """The job property listing parameter definitions."""

    jenkins_class = "hudson.model.ParametersDefinitionProperty"

    def __init__(self, defs: list[cfg.ParamDef]) -> None:
        self.defs = [ParameterDefinition(d) for d in defs]

    def exported(self) -> Iterable[Prop]:
        return (Prop("parameterDefinitions", lambda: self.defs, 2),)


class Build(Exported):
    """A Run: WorkflowRun or FreeStyleBuild."""

    def __init__(self, job: "Job", number: int, queue_id: int,
                 actions: list[Exported]) -> None:
        self.job, self.number, self.queue_id = job, number, queue_id
        self.jenkins_class = job.item_type.run_class
        self.actions = actions
        self.timestamp = now_ms()
        self.building = True
        self.result: Optional[str] = None
        self.duration = 0
        self.description: Optional[str] = None
        self.console = ""
        #: the executor running it (executors.py), None once it ended
        self.executor: Optional[Exported] = None

    @property
    def url(self) -> str:
        """Absolute build URL, ``.../job/x/7/``."""
        return f"{self.job.url}{self.number}/"

    def params(self) -> dict[str, str]:
        """Parameter values of this build."""
        for action in self.actions:
            if isinstance(action, ParametersAction):
                return action.as_dict()
        return {}

    def finish(self, result: str, console: str, description: Optional[str]) -> None:
        """Mark the build completed; called by the executor thread under the lock."""
        self.result = result
        self.console = console
        if description is not None:
            self.description = description
        self.duration = max(0, now_ms() - self.timestamp)
        self.building = False

    def _neighbour(self, step: int) -> Optional["Build"]:
        numbers = sorted(self.job.builds)
        index = numbers.index(self.number) + step
        return self.job.builds[numbers[index]] if 0 <= index < len(numbers) else None

    def exported(self) -> Iterable[Prop]:
        pipeline = self.job.item_type is cfg.PIPELINE
        props = [
            Prop("actions", lambda: self.actions),
            Prop("artifacts", lambda: []),
            Prop("building", lambda: self.building),
            Prop("description", lambda: self.description),
            Prop("displayName", lambda: f"#{self.number}"),
            Prop("duration", lambda: self.duration),
            Prop("estimatedDuration", self.job.estimated_duration),
            Prop("executor", lambda: self.executor),
            Prop("fullDisplayName",
                 lambda: f"{self.job.full_display_name} #{self.number}"),
            Prop("id", lambda: str(self.number)),
            Prop("keepLog", lambda: False),
            Prop("number", lambda: self.number, 2),  # Run: @Exported(visibility = 2)
            Prop("queueId", lambda: self.queue_id),
            Prop("result", lambda: self.result),
            Prop("timestamp", lambda: self.timestamp),
            Prop("url", lambda: self.url, 2),
        ]
        if pipeline:
            props += [Prop("changeSets", lambda: []),
                      Prop("culprits", lambda: []),
                      Prop("inProgress", lambda: self.building)]
        else:
            props += [Prop("builtOn", lambda: ""),
                      Prop("changeSet", lambda: {"_class": "hudson.scm.EmptyChangeLogSet",
                                                 "items": [], "kind": None}),
                      Prop("culprits", lambda: [])]
        props += [Prop("nextBuild", lambda: self._neighbour(1)),
                  Prop("previousBuild", lambda: self._neighbour(-1))]
        return props


class Job(Item):
    """A buildable job: ``WorkflowJob`` or ``FreeStyleProject``."""

    def __init__(self, *args, **kwargs) -> None:
        self.builds: dict[int, Build] = {}
        self.next_build_number = 1
        # Set on copies (AbstractProject.onCopiedFrom) until the config is saved.
        self.hold_off_build = False
        super().__init__(*args, **kwargs)

    def apply_config(self, config_xml: str, parsed: cfg.ParsedConfig) -> None:
        super().apply_config(config_xml, parsed)
        self.disabled = parsed.disabled
        self.concurrent = parsed.concurrent
        self.param_defs = parsed.params

    @property
    def buildable(self) -> bool:
        """``Job.isBuildable``: not disabled and not held off after a copy."""
        return not self.disabled and not self.hold_off_build

    def newest_first(self) -> list[Build]:
        """Builds, newest first (the order ``builds`` is exported in)."""
        return [self.builds[n] for n in sorted(self.builds, reverse=True)]

    def permalink(self, name: str) -> Optional[Build]:
        """Resolve ``lastBuild``, ``lastSuccessfulBuild``, ... to a build."""
        tests = {
            "lastBuild": lambda b: True,
            "lastCompletedBuild": lambda b: not b.building,
            "lastFailedBuild": lambda b: b.result == "FAILURE",
            "lastStableBuild": lambda b: b.result == "SUCCESS",
            "lastSuccessfulBuild": lambda b: b.result in ("SUCCESS", "UNSTABLE"),
            "lastUnstableBuild": lambda b: b.result == "UNSTABLE",
            "lastUnsuccessfulBuild":
                lambda b: not b.building and _ORDINAL.get(b.result or "", 0) > 0,
        }
        test = tests[name]
        return next((b for b in self.newest_first() if test(b)), None)

    def color(self) -> str:
        """Ball colour: result colour of the last completed build, _anime if running."""
        if self.disabled:
            return "disabled"
        last = self.permalink("lastCompletedBuild")
        color = RESULT_COLORS.get(last.result or "", "notbuilt") if last else "notbuilt"
        running = any(b.building for b in self.builds.values())
        return f"{color}_anime" if running else color

    def estimated_duration(self) -> int:
        """Mean duration of recent completed builds, -1 when unknown."""
        done = [b.duration for b in self.newest_first() if not b.building][:3]
        return sum(done) // len(done) if done else -1

    def exported(self) -> Iterable[Prop]:
        freestyle = self.item_type is cfg.FREESTYLE
        props = [
            *Item.exported(self),
            Prop("buildable", lambda: self.buildable),
            Prop("builds", lambda: self.newest_first()[:100]),
            Prop("allBuilds", self.newest_first, -2),
            Prop("color", self.color, 2),
            Prop("firstBuild", lambda: self.builds[min(self.builds)] if self.builds else None),
            Prop("healthReport", lambda: []),
            Prop("inQueue", lambda: self.root.queue.item_for(self) is not None),
            Prop("keepDependencies", lambda: False),
            *(Prop(name, lambda name=name: self.permalink(name)) for name in PERMALINKS),
            Prop("nextBuildNumber", lambda: self.next_build_number),
            Prop("property", lambda: [ParametersDefinitionProperty(self.param_defs)]
                 if self.param_defs else []),
            Prop("queueItem", lambda: self.root.queue.item_for(self)),
            Prop("concurrentBuild", lambda: self.concurrent),
            Prop("disabled", lambda: self.disabled),
        ]
        if freestyle:
            props += [Prop("downstreamProjects", lambda: []),
                      Prop("labelExpression", lambda: None),
                      Prop("scm", lambda: {"_class": "hudson.scm.NullSCM"}),
                      Prop("upstreamProjects", lambda: [])]
        else:
            props.append(Prop("resumeBlocked", lambda: False))
        return props

    def on_deleted(self) -> None:
        # Deleting a job cancels what it still has waiting in the queue.
        self.root.queue.cancel_for(self)
