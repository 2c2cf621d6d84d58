"""``pluginManager``: a plausible set of installed plugins for a pipeline controller."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from .exported import Exported, Prop

#: (shortName, longName, version, dependencies) -- versions of the 2.440 LTS era.
DEFAULT_PLUGINS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("cloudbees-folder", "Folders Plugin", "6.928.v7c780211d66e", ("credentials",)),
    ("credentials", "Credentials Plugin", "1337.v60b_d7b_c7b_c9f", ("structs",)),
    ("credentials-binding", "Credentials Binding Plugin", "657.v2b_19db_7d6e6d",
     ("credentials", "plain-credentials", "workflow-step-api")),
    ("docker-workflow", "Docker Pipeline", "572.v950f58993843",
     ("workflow-basic-steps", "workflow-durable-task-step")),
    ("git", "Git plugin", "5.2.2", ("git-client", "scm-api", "credentials")),
    ("git-client", "Git client plugin", "4.7.0", ("credentials",)),
    ("pipeline-model-definition", "Pipeline: Declarative", "2.2198.v41dd8ef6dd56",
     ("workflow-cps",)),
    ("plain-credentials", "Plain Credentials Plugin", "183.va_de8f1dd5a_2b_",
     ("credentials",)),
    ("scm-api", "SCM API Plugin", "690.vfc8b_54395023", ("structs",)),
    ("structs", "Structs Plugin", "337.v1b_04ea_4df7c8", ()),
    ("workflow-aggregator", "Pipeline", "596.v8c21c963d92d",
     ("workflow-job", "workflow-cps", "pipeline-model-definition")),
    ("workflow-api", "Pipeline: API", "1291.v51fd2a_625da_7", ("workflow-step-api",)),
    ("workflow-basic-steps", "Pipeline: Basic Steps", "1049.v257a_e6b_30fb_d",
     ("workflow-step-api",)),
    ("workflow-cps", "Pipeline: Groovy", "3894.vd0f0248b_a_fc4",
     ("workflow-job", "workflow-support")),
    ("workflow-durable-task-step", "Pipeline: Nodes and Processes",
     "1336.v768003e07199", ("workflow-step-api",)),
    ("workflow-job", "Pipeline: Job", "1400.v7fd111b_ec82f", ("workflow-support",)),
    ("workflow-step-api", "Pipeline: Step API", "657.v03b_e8115821b_", ("structs",)),
    ("workflow-support", "Pipeline: Supporting APIs", "896.v175a_a_9c5b_78f",
     ("workflow-api",)),
)


class Plugin(Exported):
    """``hudson.PluginWrapper``."""

    jenkins_class = "hudson.PluginWrapper"

    def __init__(self, manager: "PluginManager", short: str, long: str,
                 version: str, deps: Sequence[str]) -> None:
        self.manager, self.short, self.long = manager, short, long
        self.version, self.deps = version, tuple(deps)

    def _dependencies(self) -> list[dict]:
        return [{"optional": False, "shortName": d,
                 "version": self.manager.version_of(d) or "1.0"} for d in self.deps]

    def exported(self) -> Iterable[Prop]:
        return (Prop("active", lambda: True), Prop("backupVersion", lambda: None),
                Prop("bundled", lambda: False), Prop("deleted", lambda: False),
                Prop("dependencies", self._dependencies),
                Prop("detached", lambda: False), Prop("downgradable", lambda: False),
                Prop("enabled", lambda: True), Prop("hasUpdate", lambda: False),
                Prop("longName", lambda: self.long), Prop("pinned", lambda: False),
                Prop("requiredCoreVersion", lambda: "2.387.3"),
                Prop("shortName", lambda: self.short),
                Prop("supportsDynamicLoad", lambda: "MAYBE"),
                Prop("url", lambda: f"https://plugins.jenkins.io/{self.short}"),
                Prop("version", lambda: self.version))


class PluginManager(Exported):
    """``hudson.LocalPluginManager``."""

    jenkins_class = "hudson.LocalPluginManager"

    def __init__(self, plugins: Optional[Sequence[tuple]] = None) -> None:
        rows = DEFAULT_PLUGINS if plugins is None else plugins
        self.plugins = [Plugin(self, *row) for row in rows]

    def version_of(self, short: str) -> Optional[str]:
        """Installed version of ``short``, None when absent."""
        return next((p.version for p in self.plugins if p.short == short), None)

    def exported(self) -> Iterable[Prop]:
        return (Prop("plugins", lambda: self.plugins),)
