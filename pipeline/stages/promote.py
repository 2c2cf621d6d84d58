"""`shipway promote`: deploy to one environment exactly the digest of the release that runs
in another, with that environment's own keys; copy the image to its registry first when it
pulls from another one.

The deploy path, as `shipway deploy`'s: the stage builds what each side needs (settings and
a context per environment); the source is read (promote_read: service, tasks, release
history); a pure plan (promote_plan) decides the release, the digest and the copy, or
refuses; a thin executor copies (skopeo.py) and deploys through deploy.Rollout, the same
engine, lock, watch and record as `shipway deploy`, the release recorded with where it came
from and who approved it.
"""
from pipeline import catalog, notify, registry, skopeo, state
from pipeline.api.engine import engine_errors
from pipeline.context import secret_values
from pipeline.errors import UsageError
from pipeline.stages import common, deploy
from pipeline.swarm import promote_plan, promote_read
from pipeline.swarm.replicas import short_image

OVERRIDES = [("timeout", "deploy.timeout")]


def add_arguments(parser):
    parser.add_argument("--catalog", metavar="FILE", required=True,
                        help="service catalog with top-level 'environments:'")
    parser.add_argument("--service", metavar="NAME", required=True,
                        help="the catalog's service (each environment names its swarm service)")
    parser.add_argument("--from", dest="source", metavar="ENV", required=True,
                        help="the environment whose running release is promoted")
    parser.add_argument("--to", dest="target", metavar="ENV", required=True,
                        help="the environment it is deployed to")
    parser.add_argument("--approved-by", metavar="NAME",
                        help="who approved it, for the release record (default "
                             "$SHIPWAY_APPROVED_BY, else who runs shipway)")
    # "expect" as in git's --force-with-lease=<ref>:<expect>: go ahead only while --from
    # still runs what the record says this build put there (and someone approved).
    parser.add_argument("--expect-record", metavar="FILE",
                        help="the record (--json, or .shipway/<service>.<env>.deploy.json or "
                             ".promote.json) of this build's deploy or promote to --from: "
                             "refused when --from runs anything else by now")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where stages hand results on (default $WORKSPACE/.shipway)")
    deploy.add_rollout_arguments(parser)


def sides(ctx, args):
    """((settings, context) of the source, the same of the target): each environment's
    service name and keys, and a context on its engine. Bad input (exit 2): --from equal to
    --to, a catalog without environments, an unknown environment or service."""
    if args.source == args.target:
        raise UsageError(f"--from and --to are both {args.source!r}: a promotion goes from "
                         "one environment to another",
                         hint="pass --to with the environment to promote to")
    loaded = catalog.load(args.catalog)
    if not loaded.environments:
        raise UsageError(f"{args.catalog} has no environments to promote between",
                         hint="add a top-level 'environments:' in promotion order, as "
                              "docs/catalog.md shows")
    out = []
    for name, overrides in ((args.source, ()), (args.target, OVERRIDES)):
        if name not in loaded.environments:
            raise UsageError(f"{args.catalog}: no environment {name!r} in the catalog "
                             f"(environments: {', '.join(loaded.environments)})",
                             hint="pass --from and --to with two of those")
        environment = loaded.environment(name)
        out.append((common.settings(args, overrides, loaded=loaded, environment=name),
                    ctx.for_environment(environment)))
    return out


def expected_record(args, name):
    """The promote_plan.Expected of --expect-record for --from's service `name`, or None
    without it; bad input (exit 2) when the file is not such a record."""
    if args.expect_record is None:
        return None
    record = state.read_record(args.expect_record, "--expect-record",
                               promote_plan.record_hint(args.source))
    return promote_plan.expected(record, args.expect_record, args.source, name)


def provenance(ctx, args, promotion):
    """The release record's who and where from (spec.PROVENANCE_LABELS)."""
    approver = args.approved_by or ctx.environ.get("SHIPWAY_APPROVED_BY") or ctx.build.user
    return {"deployed-by": ctx.build.user, "approved-by": approver,
            "promoted-from.environment": promotion.source,
            "promoted-from.release": str(promotion.release.seq),
            "promoted-from.digest": promotion.digest}


def run(ctx, args):
    (settings_a, ctx_a), (settings_b, ctx_b) = sides(ctx, args)
    report = ctx.console.event
    for warning in settings_b.get("warnings", []):
        report(f"warning: {warning}")
    expected = expected_record(args, settings_a["name"])
    # Both engines answer before anything is read or changed (one that does not is bad
    # input naming its environment and host).
    api_a, _ = ctx_a.engine(), ctx_b.engine()
    report(f"reading {settings_a['name']} in {args.source}")
    with engine_errors(f"promote of {args.service} from {args.source}"):
        reading = promote_read.read(api_a, settings_a["name"])
    promotion = promote_plan.plan(args.service, args.source, args.target, reading,
                                  settings_b["image"], settings_b["name"], expected)
    report(f"{args.source} runs release #{promotion.release.seq} "
           f"({short_image(promotion.release.image)}) of {settings_a['name']}"
           + (f", as --expect-record {args.expect_record} says" if expected else ""))
    auth_b = registry.auth_config(ctx_b, promotion.repository)
    made = provenance(ctx, args, promotion)
    rollout = deploy.prepare(ctx_b, args, settings_b, auth_b, notify.notifier(
        settings_b, ctx_b, "promote", approved_by=made["approved-by"],
        from_environment=args.source, from_release=f"#{promotion.release.seq}"))
    copier = _copier(ctx_a, ctx_b, promotion, auth_b, settings_b) if promotion.copy else None
    if copier is not None and not args.dry_run:
        copier()
    report(f"deploying {short_image(promotion.image)} to {settings_b['name']} in {args.target}")
    result = rollout.deploy(settings_b["service"], promotion.repository, promotion.tag,
                            promotion.digest, made,
                            check=not (args.dry_run and copier), command="promote")
    if args.dry_run:
        _dry_run(ctx, args, promotion, result)
        return 0
    record = rollout.record(result, stage="promote",
                            extra={"promotion": promotion.summary()})
    if args.json:
        ctx.console.json(record)   # also when it failed, as deploy does
    if not result.outcome.ok:
        raise result.failure()
    if not args.json:
        ctx.console.result(result_line(promotion, result))
    return 0


def _copier(ctx_a, ctx_b, promotion, auth_b, settings_b):
    """copy() of the promotion's image to the target's registry, everything it needs
    asked before anything changes: skopeo is there, the source's login, whether each
    engine takes its registry without TLS."""
    copy = promotion.copy
    skopeo.available(ctx_b.environ)
    auth_a = registry.auth_config(ctx_a, copy.source.split("@", 1)[0])
    with engine_errors(f"promote of {promotion.entry}"):
        insecure = (promote_read.registry_insecure(ctx_a.engine(), copy.source_registry),
                    promote_read.registry_insecure(ctx_b.engine(), copy.destination_registry))
    secrets = secret_values(ctx_a.environ) + secret_values(ctx_b.environ) + \
        [auth.get("password") or "" for auth in (auth_a, auth_b) if auth] + \
        [auth.get("identitytoken") or "" for auth in (auth_a, auth_b) if auth]
    timeout = settings_b["deploy"]["timeout"]

    def copy_now():
        ctx_b.console.event(f"copying {copy.source} to {copy.destination}")
        skopeo.copy_image(copy, auth_a, auth_b, insecure, ctx_b.environ, timeout, secrets)
        ctx_b.console.event(f"copied: {copy.destination}@{promotion.digest}")
    return copy_now


def _dry_run(ctx, args, promotion, result):
    """The plan: the promotion, the copy it would make, the target's deploy plan."""
    if args.json:
        ctx.console.json({**result.summary(), "dry_run": True,
                          "promotion": promotion.summary()})
        return
    for line in promotion.lines() + result.plan:
        ctx.console.result(line)


def result_line(promotion, result):
    """'hello: promoted release #7 (sha256:abcd...) from staging to production as release #3
    (4/4 running)'."""
    digest = promotion.digest[:len("sha256:") + 12] + "..."
    seq = f"#{result.release.seq}" if result.release is not None else "(not recorded)"
    outcome = f"({result.outcome.running}/{result.outcome.desired} running)"
    if result.action == "unchanged":
        return (f"{promotion.entry}: {promotion.target} already runs release "
                f"#{promotion.release.seq} ({digest}) of {promotion.source}, as release {seq} "
                f"{outcome}")
    return (f"{promotion.entry}: promoted release #{promotion.release.seq} ({digest}) from "
            f"{promotion.source} to {promotion.target} as release {seq} {outcome}")
