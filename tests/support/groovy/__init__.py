"""Run Jenkinsfiles outside Jenkins: Groovy stand-ins for the Pipeline DSL (harness.groovy).

    result = run_pipeline(script_text, branch="main", credentials={"id": {...}}, workdir=tmp)
    result.returncode, result.log, result.description, result.sh_commands, result.stages

`run_pipelines` runs several in one JVM (about a second saved per run).
"""
from __future__ import annotations  # `str | None` on Python 3.9

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "harness.groovy")
STUBS = os.path.join(HERE, "stubs")
DEFAULT_JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
# `when { branch }` is Ant's SelectorUtils.matchPath (pipeline-model-definition
# Comparator.GLOB); the harness calls the real one from Debian's ant package.
ANT_JAR = os.environ.get("SHIPWAY_ANT_JAR", "/usr/share/java/ant.jar")
HARNESS_GAP = 3   # returncode of a run that used a DSL element with no stand-in


@dataclass
class HarnessResult:
    """What a pipeline run did, as the harness saw it."""

    returncode: int            # 0 SUCCESS, 1 FAILURE/UNSTABLE, 3 a DSL gap in the harness
    log: str                   # the console log, secrets masked as ****
    description: str | None    # currentBuild.description
    sh_commands: list          # each `sh` script, exactly as the step received it
    result: str = "SUCCESS"
    stages: dict = field(default_factory=dict)   # name -> ran|skipped|failed|skipped-after-failure
    archived: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    agent: object = None       # the pipeline's agent: "any", {"label": ...} or None
    inputs: list = field(default_factory=list)       # each input asked: message, submitter,
    #   held_executor, outcome (approved|aborted|timeout|None), approver, refused [...],
    #   parameters [{type, name, choices, ...}], values (what the approver gave them)
    milestones: list = field(default_factory=list)   # the ordinals this build passed
    cancelled: list = field(default_factory=list)    # older builds its milestones cancelled
    workspaces: list = field(default_factory=list)   # one per node the build took
    checkouts: list = field(default_factory=list)    # each `git` step: url, branch,
    #   credentialsId, changelog, poll, workspace


def groovy_available():
    """True when the groovy command can be run."""
    return shutil.which("groovy") is not None and shutil.which("groovyc") is not None


def java_env(base=None):
    """The environment for groovy/groovyc: JAVA_HOME set when the caller has none."""
    env = dict(os.environ if base is None else base)
    if not env.get("JAVA_HOME") and os.path.isdir(DEFAULT_JAVA_HOME):
        env["JAVA_HOME"] = DEFAULT_JAVA_HOME
    return env


def pipeline_run(script_text, *, branch="main", multibranch=False, env=None, credentials=None,
                 params=None, workdir, scm_vars=None, library_dirs=(), job_name="harness",
                 answers=(), milestones=None, repository=None):
    """One run's description for `run_pipelines` (same arguments as `run_pipeline`).

    `answers` are what people answer the build's inputs, in order: {"user", "groups",
    "action": "proceed"|"abort", "after": seconds after the input was asked, "admin",
    "cancel", "parameters": {NAME: value, a choice's index}}, or another build's milestone
    event {"build": N, "passes": ORDINAL} / {"build": N, "completes": True}, or what another
    build does meanwhile {"build": N, "runs": SCRIPT, "workdir": DIR, "env": {...}} (run for
    real with /bin/sh -xe; its exit code is the event's "returncode" in `inputs`). `milestones`
    are the job's other running builds and the milestone each passed last ({2: 3}; None:
    none yet). `repository` is a directory whose files the `git` step checks out.
    """
    return {
        "script": script_text, "branch": branch, "multibranch": multibranch,
        "env": dict(env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}),
        "credentials": dict(credentials or {}), "params": dict(params or {}),
        "workdir": os.fspath(workdir), "scm_vars": dict(scm_vars or {}),
        "library_dirs": [os.fspath(d) for d in library_dirs], "job_name": job_name,
        "answers": [dict(a) for a in answers],
        "milestones": {str(k): v for k, v in (milestones or {}).items()},
        "repository": os.fspath(repository) if repository is not None else None,
    }


def run_pipelines(runs, timeout=600):
    """Run several `pipeline_run(...)` descriptions in one JVM; a HarnessResult each."""
    with tempfile.TemporaryDirectory(prefix="harness-") as tmp:
        runs_file = os.path.join(tmp, "runs.json")
        results_file = os.path.join(tmp, "results.json")
        with open(runs_file, "w", encoding="utf-8") as handle:
            json.dump(list(runs), handle)
        proc = subprocess.run(["groovy", "-cp", ANT_JAR, HARNESS, runs_file, results_file],
                              env=java_env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0 or not os.path.exists(results_file):
            raise RuntimeError(f"the harness itself failed ({proc.returncode}):\n"
                               f"{proc.stdout}\n{proc.stderr}")
        with open(results_file, encoding="utf-8") as handle:
            records = json.load(handle)
    return [HarnessResult(**record) for record in records]


def run_scenarios(scenarios, timeout=600):
    """Run {name: (workdir, pipeline_run(...))} in one JVM: {name: (workdir, HarnessResult)}."""
    results = run_pipelines([run for _, run in scenarios.values()], timeout=timeout)
    return {name: (work, result) for (name, (work, _)), result in zip(scenarios.items(),
                                                                     results)}


def recorded_calls(workdir):
    """The commands a harness run's stub `shipway` was called with in `workdir` (its
    .calls.jsonl), in order; none when it was never called."""
    path = os.path.join(workdir, ".calls.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def run_pipeline(script_text, *, branch="main", env=None, credentials=None, params=None,
                 workdir, multibranch=False, scm_vars=None, library_dirs=(), answers=(),
                 timeout=600):
    """Run one Jenkinsfile in the harness.

    `env` is the whole starting environment of `sh` (default: just PATH); the harness adds
    WORKSPACE (= workdir), JOB_NAME and BUILD_NUMBER (unless `env` has them) and, with
    `multibranch`, BRANCH_NAME.
    Without `multibranch` the branch reaches `when { branch }` as GIT_LOCAL_BRANCH, once the
    script has put checkout's variables into env. `credentials` maps a credentials id to
    {"username", "password"} (or a secret string); `params` are build parameters;
    `answers` what people answer its inputs (pipeline_run).
    """
    run = pipeline_run(script_text, branch=branch, multibranch=multibranch, env=env,
                       credentials=credentials, params=params, workdir=workdir,
                       scm_vars=scm_vars, library_dirs=library_dirs, answers=answers)
    return run_pipelines([run], timeout=timeout)[0]


def compile_groovy(sources, timeout=600):
    """Compile {class name: source text} with groovyc in one JVM; returns (returncode, output).

    Jenkinsfiles compile as plain Groovy: `pipeline { }` is a method call taking a closure.
    The stubs (e.g. the @Library annotation) are compiled with them.
    """
    with tempfile.TemporaryDirectory(prefix="groovyc-") as tmp:
        paths = []
        for name, text in sources.items():
            path = os.path.join(tmp, f"{name}.groovy")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            paths.append(path)
        paths += sorted(os.path.join(STUBS, n) for n in os.listdir(STUBS) if n.endswith(".groovy"))
        out = os.path.join(tmp, "classes")
        os.mkdir(out)
        proc = subprocess.run(["groovyc", "-d", out, *paths], env=java_env(), capture_output=True,
                              text=True, timeout=timeout, check=False)
        return proc.returncode, proc.stdout + proc.stderr
