"""`shipway unlock`: break the service's deploy lock, saying whose it was.

For a lock whose holder is known to be dead but whose lease has not run out yet (a waiter
breaks an expired lock by itself), or one held by a command someone decided to overrule.
"""
from pipeline.api.engine import engine_errors
from pipeline.stages import common
from pipeline.swarm import lock


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True)
    parser.add_argument("--json", action="store_true", help="print the lock removed as JSON")


def run(ctx, args):
    settings, ctx = common.target(ctx, args)  # validates --service and --environment
    with engine_errors(f"unlock of {settings['name']}"):
        info = lock.unlock(ctx.engine(), settings["name"])
    if args.json:
        ctx.console.json({"service": settings["name"], "removed": info})
    elif info is None:
        ctx.console.result(f"{settings['name']}: not locked; nothing was changed")
    else:
        ctx.console.result(f"{settings['name']}: broke the lock of {lock.line(info)}")
    return 0
