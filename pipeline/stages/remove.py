"""`shipway remove`: remove the service and its release history (nothing else); with
`--group`, every member of a group and the group's records (pipeline/stages/group_remove.py)."""
from pipeline.api.engine import engine_errors
from pipeline.stages import common
from pipeline.swarm import apply as swarm_apply


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True, group=True)
    parser.add_argument("--dry-run", action="store_true", help="show what would be removed")
    parser.add_argument("--json", action="store_true", help="print what was (or would be) "
                        "removed as JSON")
    common.add_lock_argument(parser)


def run(ctx, args):
    settings, ctx = common.target(ctx, args)
    api = ctx.engine()
    # Under the lock: a deploy in flight would otherwise recreate what this removes.
    with engine_errors(f"remove of {settings['name']}"), \
            common.locked(ctx, api, settings, "remove", args):
        plan = swarm_apply.remove(api, settings["name"], ctx.console.event,
                                  dry_run=args.dry_run)
    if args.json:
        ctx.console.json({"service": settings["name"], "dry_run": args.dry_run,
                          "plan" if args.dry_run else "removed": plan})
    elif args.dry_run:
        for line in plan:
            ctx.console.result(line)
    return 0
