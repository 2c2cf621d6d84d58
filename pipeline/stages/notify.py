"""`shipway notify --event approval-waiting`: tell the webhooks of a service (`--service`) or
of a group (`--group`: every webhook some member notifies, once each) that a build waits for
someone to approve it, as the rendered Jenkinsfiles do before each approval.

What waits is this build's release: the one the environment before (`--environment`'s
predecessor in the catalog) runs from this workspace's deploy or promote record (a group's
deploy leaves one per member), else what `shipway push` pushed. A webhook that fails is one
line; the exit status is 0 whatever the webhooks did (the build goes on to its approval), 2
only for bad input.
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
    parser.add_argument("--service", metavar="NAME", help="service name")
    # Not `group`: main() sends a command with args.group to the group commands.
    parser.add_argument("--group", metavar="NAME", dest="group_name",
                        help="a catalog group instead of a service: one event for the group, "
                             "to every webhook some member notifies")
    parser.add_argument("--event", required=True, choices=COMMAND_EVENTS,
                        help="what to tell: approval-waiting (before a Jenkins approval)")
    parser.add_argument("--environment", metavar="NAME",
                        help="the environment the approval is for (default "
                             "$SHIPWAY_ENVIRONMENT)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where stages hand results on (default $WORKSPACE/.shipway)")


def run(ctx, args):
    if bool(args.service) == bool(args.group_name):
        raise UsageError("shipway notify: give --service NAME or --group NAME, one of the two",
                         hint="see shipway notify --help")
    loaded = catalog.load(args.catalog)
    name = common.environment_name(ctx, args)
    if name == common.ALL_ENVIRONMENTS:
        raise UsageError("--environment all is only for `shipway status`",
                         hint="name the environment the approval is for")
    environment = loaded.environment(name) if name else None
    if args.group_name:
        members = loaded.members(args.group_name, name)
        fields = group_waiting(ctx, args, members, _before(loaded, environment), environment)
        notifier = notify.for_group(members.values(), ctx, args.group_name, name, "notify")
        who = f"group {args.group_name}"
    else:
        settings = common.settings(args, loaded=loaded, environment=name)
        fields = waiting(ctx, args, loaded, settings, environment)
        notifier = notify.notifier(settings, ctx, "notify")
        who = args.service
    if not any(args.event in hook.on for hook in notifier.hooks):
        ctx.console.event(f"notify: no webhook of {who} is told {args.event}; nothing sent")
        return 0
    notifier(args.event, **fields)
    return 0


def _before(loaded, environment):
    """The name of the environment before `environment` in promotion order, or None."""
    names = list(loaded.environments)
    if environment is None or names.index(environment.name) == 0:
        return None
    return names[names.index(environment.name) - 1]


def _submitter(environment):
    approval = environment.approval if environment is not None else None
    return approval.submitter if approval is not None and approval.submitter else ""


def waiting(ctx, args, loaded, settings, environment):
    """The fields of approval-waiting: the release this build would take to `environment`
    (from this workspace's records), why it waits, and where to answer."""
    found = _record(ctx, args, settings["entry"], _before(loaded, environment))
    reason = f"approve the deploy of {found['image'] or 'this build'}"
    submitter = _submitter(environment)
    if submitter:
        reason += f" (submitter: {submitter})"
    return {**found, "reason": reason, "approve_url": notify.approve_url(ctx.build)}


def group_waiting(ctx, args, members, before, environment):
    """The fields of a group's approval-waiting: each member's release this build would take
    to `environment` (members: member -> settings there), from this workspace's records of
    `before` (what the group's deploy there left), else its push record."""
    found = {member: _record(ctx, args, settings["entry"], before)
             for member, settings in members.items()}
    read = any(member.get("from_environment") for member in found.values())
    return {"members": found, "from_environment": before if read else "",
            "reason": notify.group_waiting_reason(found, _submitter(environment)),
            "approve_url": notify.approve_url(ctx.build)}


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
