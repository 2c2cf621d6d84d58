"""`shipway releases`: the service's recorded releases, newest first, the running one marked,
each as the rollback picker shows it (pipeline/swarm/picker.py)."""
import time

from pipeline.api import engine
from pipeline.stages import common
from pipeline.swarm import picker
from pipeline.swarm import releases as history
from pipeline.swarm.spec import digest_of, image_of


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True, group=True)
    parser.add_argument("--json", action="store_true",
                        help="print the releases as JSON (with the picker's `choice` line of "
                             "each and which one is its `default`)")


def run(ctx, args):
    settings, ctx = common.target(ctx, args)
    api = ctx.engine()
    service = engine.inspect_service(api, settings["name"])
    releases = history.history(api, settings["name"])
    running = history.running_release(releases, service["Spec"]) if service else None
    current = digest_of(image_of(service["Spec"])) if service else None
    now = time.time()
    listed = picker.entries(releases, running, now, current)
    if args.json:
        ctx.console.json(listed)
        return 0
    if not releases:
        ctx.console.result(f"{settings['name']}: no releases recorded")
        return 0
    for entry in listed:
        mark = "*" if entry["running"] else ">" if entry["default"] else " "
        ctx.console.result(f"{mark} {entry['choice']}  {entry['image']}")
        if entry["rolled_back"]:
            ctx.console.result(f"    {rollback_line(entry['rolled_back'], now)}")
    if service and running is None:
        ctx.console.result("  (the service runs a spec no recorded release has)")
    ctx.console.result("  (* runs now; > what the rollback job offers first: the newest older "
                       "release that ran healthy)")
    return 0


def rollback_line(back, now):
    """'rolled back 2 h ago by bob to #6: 500s on /login' of a record's rolled_back."""
    reason = f": {back['reason']}" if back.get("reason") else ""
    return (f"rolled back {picker.ago(picker.parse_time(back.get('at')), now)} by "
            f"{back.get('by') or '-'} to {back.get('to') or '-'}{reason}")
