"""`shipway rollback`: put the service back on its previous spec and wait until healthy.

Who asked for it and why (--reason, else $SHIPWAY_REASON; who: $SHIPWAY_APPROVED_BY, which
the rollback job's `input` sets, else the user running shipway) go on the record of the
release it leaves, once it ran healthy: `shipway releases` shows them.
"""
from pipeline import imageref, notify, registry
from pipeline.api.engine import engine_errors, inspect_service
from pipeline.console import redact
from pipeline.errors import EXIT_USAGE, ShipwayError, UsageError
from pipeline.stages import common
from pipeline.stages.deploy import add_rollout_arguments
from pipeline.swarm import apply as swarm_apply
from pipeline.swarm import rollback_plan
from pipeline.swarm import steps as judged
from pipeline.swarm.rollback_plan import Note
from pipeline.swarm.spec import image_of

REASON_LIMIT = 500   # characters: a line a person reads in a listing, not a post-mortem


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True, group=True)
    parser.add_argument("--to", metavar="REF",
                        help="release to go to: #SEQ, build number, commit or digest "
                             "(default: the one before the running release)")
    parser.add_argument("--reason", metavar="TEXT",
                        help="why: recorded with who asked on the release it leaves "
                             "(default $SHIPWAY_REASON)")
    add_rollout_arguments(parser)


def note_of(ctx, args):
    """The Note of this rollback (its time is set when it is written): who asked
    ($SHIPWAY_APPROVED_BY, else who runs shipway) and why, on one line, known secrets
    masked. UsageError for a reason too long or with control characters."""
    reason = one_line(args.reason if args.reason is not None
                       else ctx.environ.get("SHIPWAY_REASON", ""), "the reason")
    if len(reason) > REASON_LIMIT:
        raise UsageError(f"the reason is {len(reason)} characters long, more than "
                         f"{REASON_LIMIT}", hint="say it in a line; link the incident")
    by = one_line(ctx.environ.get("SHIPWAY_APPROVED_BY") or ctx.build.user or "", "the user")
    secrets = getattr(ctx.console, "secrets", ())
    return Note(at="", by=redact(by, secrets), reason=redact(reason, secrets))


def one_line(text, what):
    """`text` with its whitespace runs made single spaces; control characters refused."""
    text = " ".join(text.split())
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text):
        raise UsageError(f"{what} holds control characters",
                         hint="pass plain text (--reason, SHIPWAY_REASON, SHIPWAY_APPROVED_BY)")
    return text


def run(ctx, args):
    settings, ctx = common.target(ctx, args, [("timeout", "deploy.timeout")])
    note = note_of(ctx, args)
    notifier = notify.notifier(settings, ctx, "rollback", by=note.by)
    api = ctx.engine()
    with engine_errors(f"rollback of {settings['name']}"):
        # before the lock: a job is not rolled back, and nothing at all changes for it
        rollback_plan.refuse_job(settings["name"], inspect_service(api, settings["name"]))
    try:
        with engine_errors(f"rollback of {settings['name']}"), \
                common.locked(ctx, api, settings, "rollback", args, notify=notifier):
            result = _rollback(ctx, args, api, settings, note)
    except ShipwayError as exc:
        # Nothing to go back to, the lock stayed held, the engine refused: a rollback that
        # failed, for the webhooks too (bad input is not one).
        if not args.dry_run and exc.exit_code != EXIT_USAGE:
            notifier("failed", reason=exc.message)
        raise
    if args.dry_run:
        if args.json:
            ctx.console.json({**result.summary(), "dry_run": True, "plan": result.plan,
                              "note": _summary(note)})
        else:
            for line in result.plan:
                ctx.console.result(line)
        return 0
    announce(ctx, settings, result, note, notifier)
    if args.json:
        # also when it failed, as deploy does
        ctx.console.json({**result.summary(), "note": _summary(note)})
    if not result.outcome.ok:
        raise result.failure()
    if not args.json:
        release = f" (release #{result.release.seq})" if result.release else ""
        verb = "already on" if result.action == "unchanged" else "rolled back from " + \
            f"{result.previous_image} to"
        ctx.console.result(f"{settings['name']}: {verb} {result.image}{release}")
    return 0


def announce(ctx, settings, result, note, notifier=None):
    """The deploy marker and the webhooks' event of a rollback by hand of service `settings`
    (apply.Result `result`; nothing when it changed nothing): `rollback`, or
    `rollback-failed`/`failed` when it did not converge. `notifier`: the one the command
    built before its lock (else one is built here)."""
    if result.action == "unchanged":
        return
    mark = judged.marker(settings, ctx.environ, ctx.build, ctx.console.event)
    if mark is not None:
        mark("rollback" if result.outcome.ok else "rollback-failed", result.image, result.release)
    if notifier is None:
        notifier = notify.notifier(settings, ctx, "rollback", by=note.by)
    notifier.outcome(result, reason=note.reason)


def _summary(note):
    return {"by": note.by, "reason": note.reason}


def _rollback(ctx, args, api, settings, note):
    header = None
    current = inspect_service(api, settings["name"])  # read once, handed on
    current_image = image_of(current["Spec"]) if current else None
    if current_image and settings["deploy"]["with_registry_auth"]:
        # Nodes that must pull the older image again need the credentials too.
        repo = imageref.split(current_image)[0]
        header = registry.auth_header(registry.auth_config(ctx, repo))
    to = None if args.to in (None, "", "previous") else args.to
    return swarm_apply.rollback(api, settings, header, ctx.console.event, dry_run=args.dry_run,
                                to=to, current=current, build=ctx.build, note=note)
