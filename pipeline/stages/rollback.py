"""`shipway rollback`: put the service back on its previous spec and wait until healthy."""
from pipeline import imageref, registry
from pipeline.api.engine import engine_errors, inspect_service
from pipeline.stages import common
from pipeline.stages.deploy import add_rollout_arguments
from pipeline.swarm import apply as swarm_apply
from pipeline.swarm import canary, rollback_plan
from pipeline.swarm.spec import image_of


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True)
    parser.add_argument("--to", metavar="REF",
                        help="release to go to: #SEQ, build number, commit or digest "
                             "(default: the one before the running release)")
    add_rollout_arguments(parser)


def run(ctx, args):
    settings, ctx = common.target(ctx, args, [("timeout", "deploy.timeout")])
    api = ctx.engine()
    with engine_errors(f"rollback of {settings['name']}"):
        # before the lock: a job is not rolled back, and nothing at all changes for it
        rollback_plan.refuse_job(settings["name"], inspect_service(api, settings["name"]))
    with engine_errors(f"rollback of {settings['name']}"), \
            common.locked(ctx, api, settings, "rollback", args):
        result = _rollback(ctx, args, api, settings)
    if args.dry_run:
        if args.json:
            ctx.console.json({**result.summary(), "dry_run": True, "plan": result.plan})
        else:
            for line in result.plan:
                ctx.console.result(line)
        return 0
    mark = canary.marker(settings, ctx.environ, ctx.build, ctx.console.event)
    if mark is not None and result.action != "unchanged":
        mark("rollback" if result.outcome.ok else "rollback-failed", result.image, result.release)
    if args.json:
        ctx.console.json(result.summary())   # also when it failed, as deploy does
    if not result.outcome.ok:
        raise result.failure()
    if not args.json:
        release = f" (release #{result.release.seq})" if result.release else ""
        verb = "already on" if result.action == "unchanged" else "rolled back from " + \
            f"{result.previous_image} to"
        ctx.console.result(f"{settings['name']}: {verb} {result.image}{release}")
    return 0


def _rollback(ctx, args, api, settings):
    header = None
    current = inspect_service(api, settings["name"])  # read once, handed on
    current_image = image_of(current["Spec"]) if current else None
    if current_image and settings["deploy"]["with_registry_auth"]:
        # Nodes that must pull the older image again need the credentials too.
        repo = imageref.split(current_image)[0]
        header = registry.auth_header(registry.auth_config(ctx, repo))
    to = None if args.to in (None, "", "previous") else args.to
    return swarm_apply.rollback(api, settings, header, ctx.console.event, dry_run=args.dry_run,
                                to=to, current=current, build=ctx.build)
