"""`shipway deploy`: create or update the swarm service on a pinned digest, wait until healthy."""
import re

from pipeline import imageref, registry, state
from pipeline.api.engine import engine_errors
from pipeline.errors import RegistryError, UsageError
from pipeline.stages import common
from pipeline.swarm import apply as swarm_apply

OVERRIDES = [
    ("replicas", "deploy.replicas"), ("networks", "deploy.networks"), ("env", "deploy.env"),
    ("labels", "deploy.labels"), ("ports", "deploy.ports"),
    ("stop_grace_period", "deploy.stop_grace_period"), ("timeout", "deploy.timeout"),
    ("endpoint_mode", "deploy.endpoint_mode"), ("with_registry_auth", "deploy.with_registry_auth"),
    ("keep_releases", "deploy.keep_releases"),
] + [(f"{kind}_{key}", f"deploy.{kind}.{key}") for kind in ("update", "rollback")
     for key in ("parallelism", "delay", "order", "failure_action", "monitor",
                 "max_failure_ratio")]
_PUBLISH = re.compile(r"^(\d{1,5}):(\d{1,5})(?:/(tcp|udp|sctp))?$")


def publish(text):
    """argparse type for PUBLISHED:TARGET[/PROTO] (always host mode)."""
    import argparse

    match = _PUBLISH.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not PUBLISHED:TARGET[/tcp|udp]")
    return {"published": int(match.group(1)), "target": int(match.group(2)),
            "protocol": match.group(3) or "tcp"}


def _ratio(text):
    import argparse

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
    parser.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def add_arguments(parser):
    common.add_service_arguments(parser)
    parser.add_argument("--image", metavar="REF",
                        help="image to run (tag or digest); default: what `shipway push` pushed")
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
    for kind in ("update", "rollback"):
        parser.add_argument(f"--{kind}-parallelism", type=common.count(0), metavar="N")
        parser.add_argument(f"--{kind}-delay", type=common.duration, metavar="DURATION")
        parser.add_argument(f"--{kind}-order", choices=("start-first", "stop-first"))
        parser.add_argument(f"--{kind}-failure-action", choices=("pause", "continue", "rollback"))
        parser.add_argument(f"--{kind}-monitor", type=common.duration, metavar="DURATION")
        parser.add_argument(f"--{kind}-max-failure-ratio", type=_ratio, metavar="RATIO")
    add_rollout_arguments(parser)


def image_to_deploy(ctx, args, settings):
    """--image, else what `shipway push` pushed in this workspace; split into its parts."""
    reference = args.image
    if not reference:
        pushed = state.load(ctx.state_dir(args.state_dir), settings["name"], "push",
                            shape={"reference": str})
        if not pushed:
            raise UsageError("no image to deploy", hint="pass --image REF or run `shipway push` first")
        reference = pushed["reference"]
    try:
        repo, tag, digest = imageref.split(reference)
    except ValueError as exc:
        raise UsageError(str(exc), hint="pass --image as REPO:TAG or REPO@sha256:...") from None
    if not tag and not digest:
        raise UsageError(f"image {reference!r} names no tag or digest",
                         hint="deploy a tag that was pushed, e.g. REPO:TAG")
    return repo, tag, digest


def run(ctx, args):
    settings = common.settings(args, OVERRIDES)
    repo, tag, digest = image_to_deploy(ctx, args, settings)
    api = ctx.docker().api
    auth = registry.auth_config(ctx, repo)
    if not digest:
        digest = resolve_digest(api, f"{repo}:{tag}", auth)
    pinned = imageref.pinned(repo, tag, digest)
    header = registry.auth_header(auth) if settings["deploy"]["with_registry_auth"] else None
    from pipeline.swarm import canary  # analysis (deploy.analysis) and deploy markers

    mark = canary.marker(settings, ctx.environ, ctx.build, ctx.console.event)
    with engine_errors(f"deploy of {settings['name']}"):
        steps = canary.prepare(api, settings, ctx.environ, header, ctx.console.event, mark)
        result = swarm_apply.deploy(api, settings, pinned, ctx.build, header,
                                    ctx.console.event, dry_run=args.dry_run, steps=steps)
    if args.dry_run:
        for line in result.plan:
            ctx.console.result(line)
        return 0
    record = result.summary()
    if steps is not None:
        record["analysis"] = steps.record()
    if mark is not None:
        mark("deployed" if result.outcome.ok else "failed", pinned, result.release)
    state.save(ctx.state_dir(args.state_dir), settings["name"], "deploy", record)
    if args.json:
        # Also when it failed ("ok": false): Jenkins archives this record, and a failed
        # deploy is when someone reads it.
        ctx.console.json(record)
    if not result.outcome.ok:
        raise result.failure()
    if not args.json:
        ctx.console.result(f"{settings['name']}: {result.action} {pinned} "
                           f"({result.outcome.running}/{result.outcome.desired} running)")
    return 0


def resolve_digest(api, reference, auth):
    """The digest the registry serves for a tag, so every task runs exactly that."""
    from docker.errors import APIError

    try:
        from pipeline.api.engine import resolve_digest as engine_resolve

        return engine_resolve(api, reference, auth)
    except APIError as exc:
        raise RegistryError(f"cannot resolve {reference} in the registry: "
                            f"{exc.explanation or exc}",
                            hint="push it first, and check the registry credentials") from None
