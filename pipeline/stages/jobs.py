"""`shipway jobs`: provision the catalog's Jenkins folders and jobs (sync, diff, list).

  shipway jobs sync --catalog FILE --jenkins-url URL [--dry-run] [--prune] [--workers N]
  shipway jobs diff --catalog FILE --jenkins-url URL
  shipway jobs list --catalog FILE --jenkins-url URL [--json]

The user and API token come from JENKINS_USER + JENKINS_TOKEN (or JENKINS_TOKEN_FILE), or
from --credentials-file FILE holding USER:TOKEN; never from the command line. The URL may
come from JENKINS_URL (Jenkins sets it in every build).

Exit codes: 0 all done, 1 some item failed (or Jenkins refused us), 2 bad input.
"""
from pipeline import catalog as catalogs
from pipeline import render, render_group
from pipeline.errors import UsageError
from pipeline.jobs import client as clientmod
from pipeline.jobs import plan as planmod
from pipeline.jobs import sync as syncmod
from pipeline.stages import common

SUMMARY_KEYS = ("created", "updated", "unchanged", "pruned", "failed")


def _common_arguments(parser):
    parser.add_argument("--catalog", metavar="FILE", required=True, help="service catalog (YAML)")
    parser.add_argument("--jenkins-url", metavar="URL",
                        help="Jenkins root URL (default: $JENKINS_URL)")
    parser.add_argument("--credentials-file", metavar="FILE",
                        help="file holding USER:TOKEN (default: $JENKINS_USER with "
                             "$JENKINS_TOKEN or $JENKINS_TOKEN_FILE)")
    parser.add_argument("--workers", metavar="N", type=common.count(1), default=4,
                        help="requests in flight at once (default 4)")
    parser.add_argument("--timeout", metavar="SECONDS", type=common.seconds, default=30.0,
                        help="per-request timeout (default 30)")
    parser.add_argument("--retries", metavar="N", type=common.count(1), default=4,
                        help="attempts per request on 5xx and connection errors (default 4)")


def add_arguments(parser):
    actions = parser.add_subparsers(dest="jobs_action", metavar="ACTION",
                                    parser_class=type(parser))
    actions.required = True
    sync = actions.add_parser("sync", help="create, update (and --prune) the catalog's jobs",
                              description="Create every folder and job the catalog renders, "
                                          "reconfigure those that differ, leave the rest.")
    _common_arguments(sync)
    sync.add_argument("--dry-run", action="store_true",
                      help="print a diff of each change, change nothing")
    sync.add_argument("--prune", action="store_true",
                      help="delete items this catalog owns that it no longer renders")
    sync.add_argument("--adopt", action="store_true",
                      help="take over existing jobs at catalog paths that carry no "
                           "ownership marker (default: refuse them)")
    diff = actions.add_parser("diff", help="show how Jenkins differs from the catalog",
                              description="Diff of normalised config.xml for every item "
                                          "that differs (drift), plus missing and leftover items.")
    _common_arguments(diff)
    diff.add_argument("--exit-code", action="store_true",
                      help="exit 1 when anything differs (like git diff --exit-code)")
    listing = actions.add_parser("list", help="the catalog's items and their state in Jenkins",
                                 description="Each item: present, drifted, missing or "
                                             "owned-by-other (and owned leftovers: orphaned).")
    _common_arguments(listing)
    listing.add_argument("--json", action="store_true", help="print the list as JSON")


def run(ctx, args):
    catalog = catalogs.load(args.catalog)
    desired = render_group.desired_items(catalog)
    if not desired:
        raise UsageError(f"{args.catalog}: no service or group has jenkins.repo, so there are "
                         "no jobs", hint="set jenkins.repo (and jenkins.folder) for the "
                                         "services or groups to build")
    credentials = clientmod.read_credentials(ctx.environ, args.credentials_file)
    url = clientmod.check_url(args.jenkins_url or ctx.environ.get("JENKINS_URL"))
    event = syncmod.locked(ctx.console.event)
    client = clientmod.Client(url, credentials, timeout=args.timeout, attempts=args.retries,
                              report=event)
    marker = render.xml_marker(catalog.name)
    live = syncmod.read_live(client, desired, marker, workers=args.workers)
    actions = planmod.make_plan(
        desired, live.items, live.configs, live.errors, catalog_name=catalog.name,
        owner_of=render.owner_of, prune=getattr(args, "prune", False),
        adopt=getattr(args, "adopt", False))
    if args.jobs_action == "list":
        return _list(ctx, actions, catalog.name, args.json)
    if args.jobs_action == "diff":
        return _diff(ctx, actions, args.exit_code)
    return _sync(ctx, client, actions, args, event)


def _sync(ctx, client, actions, args, event):
    for action in actions:
        if action.op == planmod.ORPHAN:
            hint = (" (pass --prune to delete it)"
                    if not args.prune and action.reason == planmod.LEFTOVER else "")
            event(f"left {action.path}: {action.reason}{hint}")
        elif action.op == planmod.UNCHANGED and action.reason:
            event(f"{action.path}: {action.reason}")
    if args.dry_run:
        for action in actions:
            if action.op in (planmod.CREATE, planmod.UPDATE):
                ctx.console.result(action.diff().rstrip("\n"))
            elif action.op == planmod.DELETE:
                ctx.console.result(f"would delete {action.path} ({action.reason})")
        counts = planmod.counts(actions)
        failures = [(a.path, a.reason) for a in actions if a.op == planmod.FAIL]
        return _summary(ctx, counts, failures, " (dry run: nothing was changed)")

    def report(outcome):
        action = outcome.action
        if not outcome.ok:
            return  # failures are listed under the summary, once
        if action.op == planmod.CREATE:
            event(f"created {action.path}")
        elif action.op == planmod.UPDATE:
            event(f"updated {action.path} ({action.reason})")
        elif action.op == planmod.DELETE:
            event(f"pruned {action.path}")

    outcomes = syncmod.execute(client, actions, workers=args.workers, report=report)
    counts = planmod.counts([o.action for o in outcomes if o.ok])
    failures = [(o.action.path, o.message) for o in outcomes if not o.ok]
    counts["failed"] = len(failures)
    return _summary(ctx, counts, failures)


def _summary(ctx, counts, failures, suffix=""):
    ctx.console.result("jobs: " + ", ".join(f"{key} {counts[key]}" for key in SUMMARY_KEYS)
                       + suffix)
    for path, message in failures:
        ctx.console.result(f"failed {path}: {message}")
    return 1 if failures else 0


def _diff(ctx, actions, exit_code):
    differs = failed = 0
    for action in actions:
        if action.op == planmod.UPDATE:
            differs += 1
            # Drift: the item was edited in Jenkins, or the catalog changed since the last
            # sync; the live config alone cannot tell which.
            ctx.console.result(f"drift: {action.path}" if action.reason == planmod.DRIFT
                               else f"differs: {action.path} ({action.reason})")
            ctx.console.result(action.diff().rstrip("\n"))
        elif action.op == planmod.CREATE:
            differs += 1
            ctx.console.result(f"missing: {action.path}")
        elif action.op in (planmod.ORPHAN, planmod.DELETE):
            differs += 1
            ctx.console.result(f"not in the catalog: {action.path} ({action.reason})")
        elif action.op == planmod.FAIL:
            failed += 1
            ctx.console.result(f"failed {action.path}: {action.reason}")
    same = sum(1 for a in actions if a.op == planmod.UNCHANGED)
    ctx.console.result(f"jobs diff: {differs} differ, {same} unchanged, {failed} failed")
    if failed or (exit_code and differs):
        return 1
    return 0


def _list(ctx, actions, catalog_name, as_json):
    rows = [{"path": a.path, "kind": a.kind, "service": a.service, "group": a.group,
             "state": a.state(catalog_name), "owner": a.owner,
             "error": a.reason if a.op == "fail" else None} for a in actions]
    if as_json:
        ctx.console.json(rows)
    else:
        width = max(len(r["path"]) for r in rows)
        for row in rows:
            extra = f"  owner={row['owner']}" if row["state"] == "owned-by-other" else ""
            extra += f"  ({row['error']})" if row["error"] else ""
            ctx.console.result(f"{row['path']:<{width}}  {row['kind']:<8}  "
                               f"{row['state']}{extra}")
    return 1 if any(r["state"] == "error" for r in rows) else 0
