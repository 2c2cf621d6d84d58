"""`shipway deploy`: create or update the swarm service on a pinned digest, wait until healthy."""
import argparse
import contextlib
import re
import shlex
from dataclasses import dataclass
from typing import Callable, Optional

from pipeline import catalog, imageref, notify, registry, state
from pipeline.api.engine import engine_errors, resolve_digest
from pipeline.catalog import compose_defs, compose_keys
from pipeline.context import redacted
from pipeline.errors import EXIT_USAGE, AnalysisPaused, ShipwayError, UsageError
from pipeline.stages import common
from pipeline.swarm import apply as swarm_apply
from pipeline.swarm import spec as specs
from pipeline.swarm import steps as judged
from pipeline.swarm.request import DeployRequest

# shipway's own run options; the other flags set stack-file keys (flag_keys).
OVERRIDES = [("timeout", "deploy.timeout"), ("with_registry_auth", "deploy.with_registry_auth"),
             ("keep_releases", "deploy.keep_releases")]
POLICY_KEYS = ("parallelism", "delay", "order", "failure_action", "monitor", "max_failure_ratio")
_PUBLISH = re.compile(r"^(\d{1,5}):(\d{1,5})(?:/(tcp|udp|sctp))?$")


def publish(text):
    """argparse type for PUBLISHED:TARGET[/PROTO] (always host mode)."""
    match = _PUBLISH.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not PUBLISHED:TARGET[/tcp|udp]")
    return {"published": int(match.group(1)), "target": int(match.group(2)),
            "protocol": match.group(3) or "tcp"}


def _ratio(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def add_rollout_arguments(parser):
    """Flags shared by deploy and rollback: timeout, dry run, JSON."""
    parser.add_argument("--timeout", type=common.duration, metavar="DURATION",
                        help="how long to wait for convergence (default 300s)")
    parser.add_argument("--dry-run", action="store_true",
                        help="show what would change; change nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    common.add_lock_argument(parser)


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True, group=True)
    parser.add_argument("--image", metavar="REF", action="append",
                        help="image to run (tag or digest); default: what `shipway push` "
                             "pushed; with --group, MEMBER=REF (repeatable)")
    parser.add_argument("--replicas", type=common.count(0), metavar="N")
    parser.add_argument("--network", dest="networks", action="append", default=[], metavar="NET")
    parser.add_argument("--env", action="append", default=[], type=common.key_value,
                        metavar="KEY=VALUE")
    parser.add_argument("--label", dest="labels", action="append", default=[],
                        type=common.key_value, metavar="KEY=VALUE")
    parser.add_argument("--publish", dest="ports", action="append", default=[], type=publish,
                        metavar="PUBLISHED:TARGET", help="published port, host mode")
    parser.add_argument("--stop-grace-period", type=common.duration, metavar="DURATION")
    parser.add_argument("--endpoint-mode", choices=("dnsrr", "vip"))
    parser.add_argument("--keep-releases", type=common.count(1), metavar="N",
                        help="release records to keep (default 10)")
    parser.add_argument("--no-registry-auth", dest="with_registry_auth", action="store_const",
                        const=False, help="do not send registry credentials to the nodes")
    parser.add_argument("--rerun-jobs", action="store_true",
                        help="run a job service again whose spec already ran to completion "
                             "(without it: `unchanged`)")
    for kind in ("update", "rollback"):
        parser.add_argument(f"--{kind}-parallelism", type=common.count(0), metavar="N")
        parser.add_argument(f"--{kind}-delay", type=common.duration, metavar="DURATION")
        parser.add_argument(f"--{kind}-order", choices=("start-first", "stop-first"))
        parser.add_argument(f"--{kind}-failure-action", choices=("pause", "continue", "rollback"))
        parser.add_argument(f"--{kind}-monitor", type=common.duration, metavar="DURATION")
        parser.add_argument(f"--{kind}-max-failure-ratio", type=_ratio, metavar="RATIO")
    parser.add_argument("--prune", action="store_true",
                        help="with --group of a stack file: remove the stack's services the "
                             "file no longer has")
    add_rollout_arguments(parser)


def image_to_deploy(ctx, args, settings):
    """--image, else what `shipway push` pushed in this workspace, else the stack file's
    image; split into its parts."""
    if len(args.image or []) > 1:
        raise UsageError("--image given more than once for one service",
                         hint="one service runs one image; with --group, give MEMBER=REF each")
    reference = (args.image or [None])[0]
    if not reference:
        # push ran once for every environment: its hand-over is the catalog entry's
        pushed = state.load(ctx.state_dir(args.state_dir), settings["entry"], "push",
                            shape={"reference": str})
        reference = pushed["reference"] if pushed else settings.get("image_ref")
        if not reference:
            raise UsageError("no image to deploy",
                             hint="pass --image REF or run `shipway push` first")
    try:
        repo, tag, digest = imageref.split(reference)
    except ValueError as exc:
        raise UsageError(str(exc), hint="pass --image as REPO:TAG or REPO@sha256:...") from None
    if not tag and not digest:
        raise UsageError(f"image {reference!r} names no tag or digest",
                         hint="deploy a tag that was pushed, e.g. REPO:TAG")
    return repo, tag, digest


def flag_keys(args):
    """The stack-file keys the deploy flags set, in the stack file's own form."""
    keys, deploy = {}, {}
    if args.replicas is not None:
        deploy["replicas"] = args.replicas
    if args.endpoint_mode:
        deploy["endpoint_mode"] = args.endpoint_mode
    if args.labels:
        deploy["labels"] = dict(args.labels)
    for kind in ("update", "rollback"):
        policy = {key: getattr(args, f"{kind}_{key}") for key in POLICY_KEYS
                  if getattr(args, f"{kind}_{key}") is not None}
        if policy:
            deploy[f"{kind}_config"] = policy
    if deploy:
        keys["deploy"] = deploy
    if args.networks:
        keys["networks"] = list(args.networks)
    if args.env:
        keys["environment"] = dict(args.env)
    if args.ports:
        keys["ports"] = [{**port, "mode": "host"} for port in args.ports]
    if args.stop_grace_period is not None:
        keys["stop_grace_period"] = args.stop_grace_period
    return keys


def service_keys(settings, args):
    """The catalog's stack-file keys with the flags' over them: maps merge key by key (env,
    labels, update policy), lists replace (networks, ports)."""
    def fail(key, message):
        raise UsageError(f"deploy flag for {key}: {message}", hint="see shipway deploy --help")

    flags = compose_keys.normalise(flag_keys(args), fail)
    base = {k: v for k, v in settings["service"].items() if not (k == "networks" and k in flags)}
    merged = catalog.merge(base, flags)
    compose_defs.check_service(merged, fail)
    return merged


def run(ctx, args):
    if getattr(args, "prune", False):
        raise UsageError("--prune is for a group of a stack file's services",
                         hint="shipway deploy --group G --prune (G: compose: {file:, stack:})")
    settings, ctx = common.target(ctx, args, OVERRIDES)
    for warning in settings.get("warnings", []):
        ctx.console.event(f"warning: {warning}")
    repo, tag, digest = image_to_deploy(ctx, args, settings)
    auth = registry.auth_config(ctx, repo)
    service = service_keys(settings, args)   # bad input is the first thing said
    rollout = prepare(ctx, args, settings, auth)
    result = rollout.deploy(service, repo, tag, digest, {"deployed-by": ctx.build.user})
    if args.dry_run:
        return show_plan(ctx, args, result.summary(), result.plan)
    return finish(ctx, args, settings, result, rollout.record(result),
                  lambda: _result_line(settings["name"], result, rollout.pinned))


def show_plan(ctx, args, summary, plan):
    """A dry run's output: with --json the record (`summary`, marked dry_run), else the
    plan's lines."""
    if args.json:
        ctx.console.json({**summary, "dry_run": True})
    else:
        for line in plan:
            ctx.console.result(line)
    return 0


def finish(ctx, args, settings, result, record, last_line):
    """The end of a deploy (or continue) that ran: the --json record, also when it failed
    (Jenkins archives it, and a failed deploy is when someone reads it); exit 3 for an
    update the analysis paused, the failure's exit, else the line `last_line()` gives."""
    if args.json:
        ctx.console.json(record)
    if result.outcome.paused:
        raise paused(result, settings, args)
    if not result.outcome.ok:
        raise result.failure()
    if not args.json:
        ctx.console.result(last_line())
    return 0


def paused(result, settings, args):
    """The AnalysisPaused (exit 3) of a deploy an inconclusive analysis paused: one line
    saying why, what runs, and the two commands that finish it."""
    o = result.outcome
    where = (["--catalog", args.catalog] if args.catalog else []) + [
        "--service", settings.get("entry") or settings["name"]] + (
        ["--environment", settings["environment"]] if settings.get("environment") else [])
    tail = " ".join(shlex.quote(word) for word in where)
    return AnalysisPaused(
        f"update of {result.service} to {result.image} paused in the {o.paused} window: "
        f"{o.reason}; {o.running}/{o.desired} tasks run the new release; "
        f"`shipway continue {tail}` goes on, `shipway rollback {tail}` goes back",
        service=result.service, paused=o.paused)


def tell(notifier, result, ctx):
    """The webhooks' event of a deploy (or continue) that ran: its outcome's, or for an
    update an inconclusive analysis paused, approval-waiting (someone must answer: continue
    the rollout or roll back?)."""
    if notifier is None:
        return
    outcome = result.outcome
    if not outcome.paused:
        notifier.outcome(result)
        return
    notifier("approval-waiting", image=result.image, digest=specs.digest_of(result.image) or "",
             reason=f"{outcome.reason}: continue the rollout or roll back?",
             running_image=outcome.running_image, approve_url=notify.approve_url(ctx.build))


def _result_line(name, result, pinned):
    """The last line of a deploy that went well."""
    outcome = result.outcome
    if not result.job:
        return f"{name}: {result.action} {pinned} ({outcome.running}/{outcome.desired} running)"
    if result.job.startswith("unchanged:"):
        return result.job
    return f"{name}: {result.action} {pinned}: {outcome.reason} " \
           f"(iteration {outcome.job.get('iteration', 0)})"


def prepare(ctx, args, settings, auth, notifier=None):
    """The Rollout of a deploy of service `settings` on ctx's engine, its preflight done:
    with deploy.analysis, Prometheus answers and every query parses (before the lock,
    before anything changes). `auth`: the registry login for the image's repository;
    notifier: the notify.Notifier of its events (default: a deploy's of `settings`)."""
    if notifier is None:
        notifier = notify.notifier(settings, ctx)
    api = ctx.engine()
    header = registry.auth_header(auth) if settings["deploy"]["with_registry_auth"] else None
    mark = judged.marker(settings, ctx.environ, ctx.build, ctx.console.event)
    with engine_errors(f"deploy of {settings['name']}"):
        steps = judged.prepare(api, settings, ctx.environ, header, ctx.console.event, mark)
    return Rollout(ctx, args, settings, api, auth, header, mark, steps, notifier=notifier)


@dataclass
class Rollout:
    """A deploy of one service on one engine, prepared: what `shipway deploy` does after
    it chose the image, and what `shipway promote` does in the environment it promotes to.
    ctx: the context on that engine; args: the stage's (catalog, dry_run, timeout,
    lock_timeout, state_dir); header: X-Registry-Auth for the nodes (or None); mark: the
    deploy marker (or None); steps: canary.Steps with analysis (or None); notifier: the
    notify.Notifier its events go to (started, the outcome, lock-waiting)."""

    ctx: object
    args: object
    settings: dict
    api: object
    auth: Optional[dict]
    header: Optional[str]
    mark: Optional[Callable]
    steps: object
    pinned: Optional[str] = None     # the image written, once it is known
    notifier: Optional[notify.Notifier] = None

    def deploy(self, service, repo, tag, digest, provenance, check=False, command="deploy",
               locked=True):
        """apply.deploy's Result of `service` (stack-file keys) on repo:tag@digest, under the
        service's lock. digest None: the tag's, as the registry resolves it (a tag it does
        not know changes nothing and waits for no lock); check: ask the registry for the
        digest too (its platforms, and that it is there). provenance: the release's
        spec.PROVENANCE_LABELS; command: what the lock says holds it; locked: False when the
        caller holds the lock already (a group release holds every member's)."""
        settings, args = self.settings, self.args
        try:
            with engine_errors(f"deploy of {settings['name']}"):
                found, platforms = ((digest, None) if digest and not check else
                                    resolve_digest(self.api, imageref.pinned(repo, None, digest)
                                                   if digest else f"{repo}:{tag}", self.auth))
            request = deploy_request(self.ctx, args, settings, service,
                                     imageref.pinned(repo, tag, found), platforms, self.header,
                                     provenance)
            lock = common.locked(self.ctx, self.api, settings, command, args,
                                 notify=self.notifier) if locked else contextlib.nullcontext()
            with engine_errors(f"deploy of {settings['name']}"), lock:
                self.pinned = request.image
                self._notify("started", image=request.image, digest=found)
                return swarm_apply.deploy(self.api, request, self.steps)
        except ShipwayError as exc:
            # A deploy that ended in an error (the engine refused, the lock stayed held, the
            # connection broke) failed too: the dashboards get its marker and the webhooks
            # its event, as for a failed wait (once: an automatic rollback said it already).
            # Bad input (exit 2) is not a deploy that failed: nothing is sent for it.
            if not args.dry_run and exc.exit_code != EXIT_USAGE \
                    and not getattr(self.steps, "marked", False):
                tried = self.pinned or (imageref.pinned(repo, tag, digest) if digest
                                        else f"{repo}:{tag}")
                if self.mark is not None:
                    self.mark("failed", tried, "", exc.message)
                self._notify("failed", image=tried, reason=exc.message)
            raise

    def _notify(self, event, **fields):
        if self.notifier is not None and not self.args.dry_run:
            self.notifier(event, **fields)

    def record(self, result, stage="deploy", extra=None):
        """The record of a deploy that ran (not a dry run): its summary, the analysis, and
        `extra`; pushes the deploy marker and saves the record as the stage's hand-over
        (`stage`), without the secrets shipway knows."""
        record = {**result.summary(), **(extra or {})}
        if self.settings.get("environment"):
            # Which environment it acted on: `promote --expect-record` checks the record
            # it is given is of the environment it promotes from.
            record["environment"] = self.settings["environment"]
        if self.steps is not None:
            record["analysis"] = self.steps.record()
        if self.mark is not None and not (self.steps is not None and self.steps.marked):
            # one marker per outcome: an automatic rollback or a pause pushed its own
            findings = "; ".join(self.steps.judge.dry_run_findings()) if self.steps else ""
            self.mark("deployed" if result.outcome.ok else "failed", self.pinned,
                      result.release, "" if result.outcome.ok else result.outcome.reason,
                      findings)
        tell(self.notifier, result, self.ctx)
        # A plan's env values may hold a secret shipway knows (a webhook's URL among them):
        # not in the file the job archives.
        record = redacted(record, self.ctx.secrets())
        state.save(self.ctx.state_dir(self.args.state_dir), common.state_key(self.settings),
                   stage, record)
        return record


def deploy_request(ctx, args, settings, service, image, platforms, registry_auth, provenance):
    """The DeployRequest of this deploy: the keys, where they come from, the pinned image,
    who deployed it (and, promoted, who approved it and where from)."""
    return DeployRequest(
        name=settings["name"], image=image, service=service, platforms=platforms,
        catalog_keys=settings["service"] if args.catalog else None, catalog=args.catalog,
        source_catalog=settings.get("source", "catalog") == "catalog",
        compose_service=(settings.get("compose") or {}).get("service"),
        stack=settings.get("stack"),
        definitions=settings["definitions"],
        # Relative env_file and bind paths are relative to the catalog (common.settings).
        base_dir=settings.get("_base_dir") or ".", environ=ctx.environ,
        timeout=settings["deploy"]["timeout"], keep_releases=settings["deploy"]["keep_releases"],
        build=ctx.build, provenance=provenance,
        registry_auth=registry_auth, dry_run=args.dry_run,
        # promote's arguments have no --rerun-jobs: a promoted job runs as its spec says
        rerun_jobs=getattr(args, "rerun_jobs", False),
        report=ctx.console.event)
