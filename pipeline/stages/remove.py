"""`shipway remove`: remove the service and its release history (nothing else)."""
from pipeline.stages import common
from pipeline.swarm import apply as swarm_apply


def add_arguments(parser):
    common.add_service_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="show what would be removed")


def run(ctx, args):
    settings = common.settings(args)
    plan = swarm_apply.remove(ctx.docker().api, settings["name"], ctx.console.event,
                              dry_run=args.dry_run)
    if args.dry_run:
        for line in plan:
            ctx.console.result(line)
    return 0
