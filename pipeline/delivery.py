"""What the stages of a rendered pipeline bind, and, for a catalog with `environments:`, the
stages that deliver one build through them: a pure plan the Jenkinsfile template renders.

    Build once (one agent): Checkout, Build, Image, Push, Deploy to FIRST
    for each later environment:
        Approve ENV (its approval: input, no agent)    Promote to ENV (promote --from PREVIOUS
                                                       --expect-record PREVIOUS' record)

Milestones (pipeline-milestone-step) keep concurrent builds in order instead of
disableConcurrentBuilds(): the deploy to the first environment is milestone 1, and each later
environment j (1, 2, ...) has 2j at the end of the stage before its gate and 2j+1 once its
gate is passed. A build passing a milestone aborts every older build that has not passed it,
so an older build still waiting at a gate stops once a newer one is approved there.

A group's pipeline (group_targets) deploys the group to each environment instead, with the
same gates and milestones: `shipway deploy --group G --environment ENV` (promote is per
service).
"""
from __future__ import annotations  # `str | None` on Python 3.9

import math
from dataclasses import dataclass, replace

# What credentials binding sets for each credential a stage needs (credentials-binding
# UsernamePasswordMultiBinding and StringBinding, docker-commons DockerServerCredentialsBinding
# whose symbol is dockerCert): shipway reads these variables, so no secret is ever in the
# script, on a command line or in a rendered file.
REGISTRY_VARIABLES = {"usernameVariable": "SHIPWAY_REGISTRY_USER",
                      "passwordVariable": "SHIPWAY_REGISTRY_PASSWORD"}
PROMETHEUS_VARIABLES = {"usernameVariable": "SHIPWAY_PROMETHEUS_USER",
                        "passwordVariable": "SHIPWAY_PROMETHEUS_PASSWORD"}
PROMETHEUS_TOKEN_VARIABLES = {"variable": "SHIPWAY_PROMETHEUS_TOKEN"}
CERT_VARIABLE = "DOCKER_CERT_PATH"
TLS_VARIABLE = "DOCKER_TLS_VERIFY"
# What the approval's `input` sets (its submitterParameter): the approver's user id.
APPROVED_BY = "SHIPWAY_APPROVED_BY"
# The checkout the Promote stages take: they may run on another agent or workspace, and a
# second `checkout scm` in a plain pipeline job fetches the branch's newest commit.
STASH = "shipway-checkout"
# Each stage's record (its --json output) goes on to the promote after it under this stash:
# that promote passes it as --expect-record, so it moves the release this build put into the
# environment before, or nothing (a newer build or a rollback may have changed what runs
# there while this build waited at the approval).
RECORD_STASH = "shipway-record-{}"
# The event `shipway notify` tells before an approval.
WAITING = "approval-waiting"
# The timeout step's units (java.util.concurrent.TimeUnit), largest first.
TIME_UNITS = (("DAYS", 86400), ("HOURS", 3600), ("MINUTES", 60), ("SECONDS", 1))


def credential_bindings(jenkins, *, prometheus, suffix=""):
    """The withCredentials bindings, (symbol, credentials id, variables) each, of a stage:
    the registry login, and with `prometheus` (deploy, rollback, promote: they query
    Prometheus and push deploy markers) the catalog's Prometheus login or token. `suffix`
    (`_PRODUCTION`) names the registry login's variables for one environment alone."""
    bindings = []
    if jenkins.get("credentials"):
        variables = {key: name + suffix for key, name in REGISTRY_VARIABLES.items()}
        bindings.append(("usernamePassword", jenkins["credentials"], variables))
    if prometheus and jenkins.get("prometheus_credentials"):
        bindings.append(("usernamePassword", jenkins["prometheus_credentials"],
                         PROMETHEUS_VARIABLES))
    if prometheus and jenkins.get("prometheus_token"):
        bindings.append(("string", jenkins["prometheus_token"], PROMETHEUS_TOKEN_VARIABLES))
    return bindings


def cert_binding(environment):
    """[the dockerCert binding of `environment`'s client certificate], or [] without one."""
    if not environment.credentials:
        return []
    return [("dockerCert", environment.credentials,
             {"variable": CERT_VARIABLE + environment.variable_suffix})]


def timeout_arg(seconds):
    """(time, unit) of the timeout step for `seconds`: the largest unit that holds it whole
    (1d -> 1 DAYS), else whole seconds, rounded up so a gate never waits less than asked."""
    whole = math.ceil(seconds)
    unit, size = next((unit, size) for unit, size in TIME_UNITS if whole % size == 0)
    return whole // size, unit


@dataclass(frozen=True)
class Milestone:
    """A milestone step: its ordinal (increasing within a build) and its label."""

    ordinal: int
    label: str


@dataclass(frozen=True)
class Gate:
    """The approval stage before an environment: an `input` inside a timeout, no agent."""

    stage: str
    message: str
    ok: str
    submitter: str | None   # Jenkins user or group ids, comma-separated; None: any builder
    time: int
    unit: str
    passed: Milestone       # passed once approved: aborts older builds still waiting here
    variable: str           # where the approver is kept for the Promote stage


@dataclass(frozen=True)
class Pause:
    """What a stage does when its deploy (or promote) exits 3, deploy.analysis having paused
    an inconclusive update (on_inconclusive: pause): an `input` "continue the rollout or roll
    back?" (who answers: SHIPWAY_APPROVED_BY, which `shipway continue` records on the
    release) inside a timeout of the analysis' pause_timeout, then `continue` (which writes
    the stage's record again, and may pause again) or `rollback`; no answer in time, or the
    question aborted, rolls back."""

    message: str
    time: int
    unit: str
    minutes: int             # the stage's own timeout grows by this much
    continue_command: list   # its --json record to the stage's record
    rollback_command: list
    rollback_record: str


def pause_of(settings, base, environment=None):
    """The Pause of a stage that deploys service `settings` (in `environment`), or None when
    its analysis does not pause (no `on_inconclusive: pause`)."""
    analysis = (settings.get("deploy") or {}).get("analysis") or {}
    if analysis.get("on_inconclusive") != "pause" or not analysis.get("checks"):
        return None
    seconds = analysis.get("pause_timeout") or 3600.0
    time, unit = timeout_arg(seconds)
    where = ["--environment", environment] if environment else []
    name = f"{settings['entry']} in {environment}" if environment else settings["entry"]
    record = f"shipway-rollback-{environment}.json" if environment else "shipway-rollback.json"
    return Pause(message=f"{name}: the analysis of the new release was inconclusive and the "
                         "update is paused. Continue the rollout or roll back?",
                 time=time, unit=unit, minutes=math.ceil(seconds / 60),
                 continue_command=["shipway", "continue", *base, *where, "--json"],
                 rollback_command=["shipway", "rollback", *base, *where, "--json"],
                 rollback_record=record)


@dataclass(frozen=True)
class Target:
    """The stage that puts the build into one environment: the deploy to the first, a
    promote from the one before to each later one."""

    environment: str
    source: str | None       # the environment promoted from; None for the deploy
    stage: str
    command: list            # shipway's words; its --json record goes to `record`
    record: str
    status_command: list     # what runs there afterwards, into `status`
    status: str
    bindings: list           # withCredentials of the command
    status_bindings: list    # withCredentials of the status (the engine only)
    tls: list                # DOCKER_TLS_VERIFY_<ENV> set to 1 where a certificate is bound
    gate: Gate | None = None
    first: Milestone | None = None   # passed before the command (the deploy; an ungated promote)
    next: Milestone | None = None    # passed after it, before the next environment's gate
    approved_by: str | None = None   # the Gate's variable, as SHIPWAY_APPROVED_BY
    reads_source: bool = False       # binds the source environment's credentials too
    stash: str | None = None         # where its record goes on to the next promote
    expects: str | None = None       # the source stage's record: --expect-record
    expects_stash: str | None = None   # ... unstashed from here
    announce: list | None = None     # `shipway notify` of the next gate's approval-waiting
    announce_bindings: list | None = None   # its webhooks' credentials
    pause: Pause | None = None       # what exit 3 (an inconclusive analysis paused) asks


def targets(catalog, service, base):
    """The Targets of `service` in `catalog`'s environments, in promotion order. `base` is
    the `--catalog C --service S` every shipway call starts with."""
    envs = list(catalog.environments.values())
    out = []
    for j, env in enumerate(envs):
        settings = catalog.service(service, environment=env.name)
        later = envs[j + 1] if j + 1 < len(envs) else None
        after = Milestone(2 * j + 2, f"before {later.name}") if later else None
        if j == 0:
            out.append(_deploy(env, settings["jenkins"], base, after,
                               pause=pause_of(settings, base, env.name)))
        else:
            out.append(_promote(envs[j - 1], env, settings, catalog, service, base, j, after,
                                out[-1].record))
    return _notifying(out, catalog, service, base)


def notify_bindings(settings, event=None):
    """The withCredentials bindings of the service's webhooks (its `notify` entries with a
    Jenkins `credentials`: a secret text, bound to the entry's webhook_env); with `event`,
    of those told that event only."""
    found = {(entry["credentials"], entry["webhook_env"]) for entry in settings.get("notify")
             or [] if entry.get("credentials") and (event is None or event in entry["on"])}
    return [("string", credentials_id, {"variable": variable})
            for credentials_id, variable in sorted(found)]


def listens(settings, event):
    """True when some webhook of service `settings` is told `event`."""
    return any(event in entry["on"] for entry in settings.get("notify") or [])


def _notifying(items, catalog, service, base):
    """The Targets with their webhooks' credentials bound around the command (deploy and
    promote send events), and the announcements of the gates (announced)."""
    def listening(environment):
        gated = catalog.service(service, environment=environment)
        return notify_bindings(gated, WAITING) if listens(gated, WAITING) else None
    return announced([replace(item, bindings=item.bindings + notify_bindings(
        catalog.service(service, environment=item.environment))) for item in items],
        base, listening)


def announced(items, base, listening):
    """The Targets where, before a gate whose environment's webhooks are told
    approval-waiting, the stage before ends with `shipway notify` of it (`base`: the
    --catalog C --service S or --group G words) inside those webhooks' credentials;
    listening(environment) gives those bindings, or None where no webhook listens."""
    out = list(items)
    for j, later in enumerate(items[1:]):
        bindings = listening(later.environment) if later.gate is not None else None
        if bindings is not None:
            out[j] = replace(items[j], announce=[
                "shipway", "notify", *base, "--event", WAITING,
                "--environment", later.environment], announce_bindings=bindings)
    return out


def _deploy(env, jenkins, base, after, first=None, gate=None, record=True, pause=None):
    """The `shipway deploy --environment ENV` stage: the first environment's (milestone 1),
    or, in a group's pipeline, a later one's after its gate (`gate`) or milestone `first`;
    `record`: its record is stashed for the promote after it."""
    name = env.name
    return Target(
        environment=name, source=None, stage=f"Deploy to {name}",
        command=["shipway", "deploy", *base, "--environment", name, "--json"],
        record=f"shipway-deploy-{name}.json",
        status_command=["shipway", "status", *base, "--environment", name, "--json"],
        status=f"shipway-status-{name}.json",
        bindings=cert_binding(env) + credential_bindings(
            jenkins, prometheus=True, suffix=env.variable_suffix),
        status_bindings=cert_binding(env), tls=_tls([env]), gate=gate,
        first=first or (None if gate else Milestone(1, f"deploy to {name}")), next=after,
        approved_by=gate.variable if gate else None,
        # a service's promote after it checks the environment still runs this (a group has
        # no promote: its later deploys are of the pushed digests)
        stash=RECORD_STASH.format(name) if after and record else None, pause=pause)


def _gate(env, j, message, ok):
    """The approval before environment `env`, the j-th (from 0), or None without one."""
    if env.approval is None:
        return None
    time, unit = timeout_arg(env.approval.timeout)
    return Gate(stage=f"Approve {env.name}", message=message, ok=ok,
                submitter=env.approval.submitter, time=time, unit=unit,
                passed=Milestone(2 * j + 1, f"{env.name} approved"),
                variable=APPROVED_BY + env.variable_suffix)


def group_targets(catalog, group, base, jenkins):
    """The Targets of group `group`'s pipeline: `shipway deploy --group --environment ENV`
    in each environment in promotion order, a later one after its approval (its gate and
    milestones as a service's promote has them), each binding its environment's
    certificate and the group's registry (and Prometheus) login under its variable names.
    `base` is the `--catalog C --group G` every call starts with; `jenkins` the group's."""
    envs = list(catalog.environments.values())
    out = []
    for j, env in enumerate(envs):
        later = envs[j + 1] if j + 1 < len(envs) else None
        after = Milestone(2 * j + 2, f"before {later.name}") if later else None
        gate = None if j == 0 else _gate(env, j, f"Deploy group {group} to {env.name}?",
                                         f"Deploy to {env.name}")
        first = Milestone(2 * j + 1, f"deploy to {env.name}") if j and gate is None else None
        out.append(_deploy(env, jenkins, base, after, first=first, gate=gate, record=False))
    return out


def _promote(source, env, settings, catalog, service, base, j, after, expects):
    """Promote reads the release that runs in `source` through source's engine (and, where
    env names another registry, copies the image from source's registry): source's
    certificate and registry login are bound too, each under source's own variable names,
    so no value can be taken for env's; no third environment's credential is bound. It
    moves only what `expects` (the record of this build's stage into `source`) names."""
    name = env.name
    source_settings = catalog.service(service, environment=source.name)
    source_bindings = cert_binding(source) + credential_bindings(
        source_settings["jenkins"], prometheus=False, suffix=source.variable_suffix)
    gate = _gate(env, j, f"Promote {service} from {source.name} to {name}?",
                 f"Promote to {name}")
    return Target(
        environment=name, source=source.name, stage=f"Promote to {name}",
        command=["shipway", "promote", *base, "--from", source.name, "--to", name,
                 "--expect-record", expects, "--json"],
        record=f"shipway-promote-{name}.json",
        status_command=["shipway", "status", *base, "--environment", name, "--json"],
        status=f"shipway-status-{name}.json",
        bindings=source_bindings + cert_binding(env) + credential_bindings(
            settings["jenkins"], prometheus=True, suffix=env.variable_suffix),
        status_bindings=cert_binding(env), tls=_tls([source, env]), gate=gate,
        first=None if gate else Milestone(2 * j + 1, f"promote to {name}"), next=after,
        approved_by=gate.variable if gate else None, reads_source=bool(source_bindings),
        stash=RECORD_STASH.format(name) if after else None, expects=expects,
        expects_stash=RECORD_STASH.format(source.name), pause=pause_of(settings, base, name))


def _tls(environments):
    """DOCKER_TLS_VERIFY_<ENV> of each environment with a client certificate: with only a
    certificate path, docker-py (like the docker CLI) would not verify the engine's own
    certificate; docker-machine's `env` sets both for the same reason."""
    return [TLS_VARIABLE + env.variable_suffix for env in environments if env.credentials]


def has_gate(items):
    """True when some Target waits for an approval."""
    return any(item.gate is not None for item in items)
