"""`shipway releases`: the service's recorded releases, newest first, the running one marked."""
from pipeline.api import engine
from pipeline.stages import common
from pipeline.swarm import releases as history


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True)
    parser.add_argument("--json", action="store_true", help="print the releases as JSON")


def run(ctx, args):
    settings, ctx = common.target(ctx, args)
    api = ctx.engine()
    service = engine.inspect_service(api, settings["name"])
    releases = history.history(api, settings["name"])
    running = history.running_release(releases, service["Spec"]) if service else None
    if args.json:
        ctx.console.json([{**r.summary(), "running": running is not None and r.id == running.id}
                          for r in releases])
        return 0
    if not releases:
        ctx.console.result(f"{settings['name']}: no releases recorded")
        return 0
    for r in releases:
        mark = "*" if running is not None and r.id == running.id else " "
        ctx.console.result(f"{mark} #{r.seq:<4} {r.created:20}  build {r.build_number or '-':>6}  "
                           f"{(r.commit or '-')[:12]:12}  {r.image}")
    if service and running is None:
        ctx.console.result("  (the service runs a spec no recorded release has)")
    return 0
