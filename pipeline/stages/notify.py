"""`shipway notify --event approval-waiting`: tell the service's webhooks that a build waits
for someone to approve it, as the rendered Jenkinsfile does before each approval.

What waits is this build's release: the one the environment before (`--environment`'s
predecessor in the catalog) runs from this workspace's deploy or promote record, else what
`shipway push` pushed. A webhook that fails is one line; the exit status is 0 whatever the
webhooks did (the build goes on to its approval), 2 only for bad input.
"""
from pipeline import catalog, notify, state
from pipeline.errors import UsageError
from pipeline.stages import common

# Events a command may send by itself: the others are what a deploy did, and only the
# deploy that did it says so.
COMMAND_EVENTS = ("approval-waiting",)


def add_arguments(parser):
    parser.add_argument("--catalog", metavar="FILE", required=True,
                        help="service catalog (its `notify:` webhooks)")
    parser.add_argument("--service", metavar="NAME", required=True, help="service name")
    parser.add_argument("--event", required=True, choices=COMMAND_EVENTS,
                        help="what to tell: approval-waiting (before a Jenkins approval)")
    parser.add_argument("--environment", metavar="NAME",
                        help="the environment the approval is for (default "
                             "$SHIPWAY_ENVIRONMENT)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where stages hand results on (default $WORKSPACE/.shipway)")


def run(ctx, args):
    loaded = catalog.load(args.catalog)
    name = common.environment_name(ctx, args)
    if name == common.ALL_ENVIRONMENTS:
        raise UsageError("--environment all is only for `shipway status`",
                         hint="name the environment the approval is for")
    environment = loaded.environment(name) if name else None
    settings = common.settings(args, loaded=loaded, environment=name)
    fields = waiting(ctx, args, loaded, settings, environment)
    notifier = notify.notifier(settings, ctx, "notify")
    if not any(args.event in hook.on for hook in notifier.hooks):
        ctx.console.event(f"notify: no webhook of {args.service} is told {args.event}; "
                          "nothing sent")
        return 0
    notifier(args.event, **fields)
    return 0


def waiting(ctx, args, loaded, settings, environment):
    """The fields of approval-waiting: the release this build would take to `environment`
    (from this workspace's records), why it waits, and where to answer."""
    names = list(loaded.environments)
    before = names[names.index(environment.name) - 1] if environment is not None and \
        names.index(environment.name) > 0 else None
    found = _record(ctx, args, settings["entry"], before)
    url = ctx.build.url
    approval = environment.approval if environment is not None else None
    reason = f"approve the deploy of {found['image'] or 'this build'}"
    if approval is not None and approval.submitter:
        reason += f" (submitter: {approval.submitter})"
    return {**found, "reason": reason,
            "approve_url": (url if url.endswith("/") else url + "/") + "input/" if url else ""}


def _record(ctx, args, entry, before):
    """release, image and digest of this build: the deploy or promote record of environment
    `before` in this workspace, else the push record (release unknown)."""
    state_dir = ctx.state_dir(args.state_dir)
    if before is not None:
        for stage in ("deploy", "promote"):
            found = state.load(state_dir, f"{entry}.{before}", stage)
            if found and found.get("ok"):
                release = found.get("release") or {}
                return {"image": str(found.get("image") or ""),
                        "digest": str(found.get("digest") or ""),
                        "release": f"#{release['seq']}" if isinstance(release, dict)
                        and release.get("seq") is not None else "",
                        "from_environment": before}
    pushed = state.load(state_dir, entry, "push") or {}
    image = str(pushed.get("reference") or "")
    return {"image": image, "digest": image.rpartition("@")[2] if "@" in image else ""}
