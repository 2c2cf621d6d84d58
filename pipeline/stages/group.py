"""`--group G` on deploy, rollback, status, releases and remove: the command on every
service of a catalog group (pipeline/catalog/groups.py), in the environment asked for.

A deploy runs the group's steps in order (pipeline/swarm/group.py), each member deployed as
`shipway deploy` deploys one service; a rollback returns every member to the group release
before the running one; a remove takes the group down (pipeline/stages/group_remove.py).
Every member's lock is held for the whole group release, taken in one order (by swarm
service name), so two groups sharing a service cannot deadlock.
"""
import contextlib
import time

from pipeline import catalog, imageref, notify, registry
from pipeline.api.engine import engine_errors, inspect_service
from pipeline.errors import DeployError, ShipwayError, UsageError
from pipeline.stages import common, group_deploy, group_remove
from pipeline.stages import rollback as rollback_stage
from pipeline.stages.status import service_status
from pipeline.swarm import apply as swarm_apply
from pipeline.swarm import group, group_plan, group_releases
from pipeline.swarm.spec import image_of


class Target:
    """The group a command acts on: its Group, members' settings, context and engine."""

    def __init__(self, ctx, args):
        if args.service:
            raise UsageError("give --service or --group, not both",
                             hint=f"shipway {args.stage} --group {args.group}")
        if not args.catalog:
            raise UsageError(f"--group {args.group} needs the catalog that defines it",
                             hint="pass --catalog FILE (its top-level 'groups:')")
        loaded = catalog.load(args.catalog)
        self.group = loaded.group(args.group)
        environment = common.environment_name(ctx, args)
        self.environment = environment
        self.ctx = ctx.for_environment(loaded.environment(environment)) if environment else ctx
        self.members = loaded.members(args.group, environment)
        for settings in self.members.values():
            settings["_base_dir"] = loaded.base_dir
        # The records of a group in one environment (two may share a swarm).
        self.key = f"{args.group}.{environment}" if environment else args.group
        self.jobs = [m for step in self.group.steps if step.job for m in step.services]

    def names(self):
        """member -> swarm service name."""
        return {member: s["name"] for member, s in self.members.items()}

    def read(self, api):
        """What every member runs now (group_plan.MemberReading each)."""
        with engine_errors(f"read of group {self.group.name}"):
            return group.read(api, self.names(), self.jobs)

    def restore(self, api, member, seq, note=None):
        """Roll `member` back to its release #seq (apply.Result), as `shipway rollback --to
        #SEQ` does (`note`: who asked and why, written on the release it leaves). A rollback
        by hand (a `note`) also pushes the member's marker and tells its webhooks, as
        `shipway rollback` does; the undo of a failing group release does not: its one
        event is group-failed, after the failing member's own."""
        settings = self.members[member]
        current = inspect_service(api, settings["name"])
        header = None
        if current is not None and settings["deploy"]["with_registry_auth"]:
            # Nodes that must pull the older image again need the credentials too.
            repo = imageref.split(image_of(current["Spec"]))[0]
            header = registry.auth_header(registry.auth_config(self.ctx, repo))
        result = swarm_apply.rollback(api, settings, header, self.ctx.console.event,
                                      to=f"#{seq}", current=current, build=self.ctx.build,
                                      note=note)
        if note is not None:
            rollback_stage.announce(self.ctx, settings, result, note, notify.notifier(
                settings, self.ctx, "rollback", by=note.by, group=self.group.name))
        return result

    def actions(self, api, deploy, note=None):
        """The MemberActions on `api`: `deploy` (member -> apply.Result), this rollback
        (`note` on what each member leaves), and removal (of a member the failing group
        release created)."""
        return group.MemberActions(
            deploy=deploy, rollback=lambda member, seq: self.restore(api, member, seq, note),
            remove=lambda member: swarm_apply.remove(api, self.members[member]["name"],
                                                     self.ctx.console.event))

    def locked(self, api, args, command, notify=None):
        """Every member's lock, taken in the order of their swarm names (`notify`: told of
        each that another holds, notify.Notifier)."""
        stack = contextlib.ExitStack()
        for member in sorted(self.members, key=lambda m: self.members[m]["name"]):
            stack.enter_context(common.locked(self.ctx, api, self.members[member], command,
                                              args, notify=notify))
        return stack


def run(stage, ctx, args):
    """`shipway STAGE --group G`: the command for the whole group."""
    commands = {"deploy": group_deploy.deploy, "rollback": rollback, "status": status,
                "releases": releases, "remove": group_remove.remove}
    return commands[stage](Target(ctx, args), args)


def group_release_number(group_name, text):
    """`rollback --group --to`: a group release, `#SEQ` or `SEQ` (None: the one before the
    running one, also for `previous`); anything else is bad input."""
    if text in (None, "", "previous"):
        return None
    digits = text[1:] if text.startswith("#") else text
    if not digits.isdigit() or not digits.isascii():
        raise UsageError(f"--to {text!r}: with --group, --to is a group release number",
                         hint=f"e.g. --to '#3' (see shipway releases --group {group_name})")
    return int(digits)


def rollback(target, args):
    """Every member back to the group release before the running one (or --to #SEQ), newest
    step first; who asked and why (--reason) go on each release a member leaves."""
    ctx = target.ctx
    to = group_release_number(target.group.name, args.to)
    note = rollback_stage.note_of(ctx, args)     # bad input before anything is read
    api, report = ctx.engine(), ctx.console.event
    with engine_errors(f"rollback of group {target.group.name}"), \
            target.locked(api, args, "rollback"):
        readings = target.read(api)
        recorded = group_releases.history(api, target.key)
        current = group_plan.running_release(recorded, readings)
        goal, undos = group_plan.plan_rollback(target.group, recorded, readings, to)
        lines = [f"group {target.group.name}: back to group release #{goal.seq}"] + \
            [f"  {u.line()}" for u in undos]
        if args.dry_run:
            return _print(ctx, args, {"group": target.group.name, "to": goal.seq,
                                      "dry_run": True, "plan": lines}, lines)
        report(lines[0])
        done = group.undo(undos, target.actions(api, deploy=None, note=note), report)
        now = target.read(api)
    failed = [(u.member, e) for u, e in done if e != "ok"]
    record = {"group": target.group.name, "ok": not failed, "to": goal.seq,
              "from": current.seq if current else None,
              "members": {m: r.describe() for m, r in now.items()},
              "note": {"by": note.by, "reason": note.reason}}
    _print(ctx, args, record, [f"group {target.group.name}: back on group release "
                                f"#{goal.seq}: {group.now_line(now)}"] if not failed else [])
    if failed:
        raise DeployError(f"rollback of group {target.group.name} to #{goal.seq} failed: "
                          f"{failed[0][0]}: {failed[0][1]}; now: {group.now_line(now)}")
    return 0


def status(target, args):
    """One row per member: what it runs, its replicas, its update state."""
    api = target.ctx.engine()
    rows = {}
    for member, name in target.names().items():
        try:
            rows[member] = service_status(api, name)
        except ShipwayError as exc:
            rows[member] = {"service": name, "error": exc.message}
    recorded = group_releases.history(api, target.key)
    running = group_releases.running(recorded, {
        m: (r.get("release") or {}).get("id", "") for m, r in rows.items() if "error" not in r})
    record = {"group": target.group.name, "group_release": running.seq if running else None,
              "members": rows}
    lines = [f"group {target.group.name}: " + (f"group release #{running.seq}" if running
                                                else "no recorded group release runs")]
    for member, row in rows.items():
        lines.append(f"  {member:16} " + (row["error"] if "error" in row else
                     f"{_release(row.get('release'))} {row['image']}  "
                     f"{row['replicas']['running']}/{row['replicas']['desired']} running  "
                     f"update {row['update']['state'] or 'none'}"))
    return _print(target.ctx, args, record, lines)


def releases(target, args):
    """The group's recorded releases, newest first, `*` on the running one; with --json
    each also has `running`, `choice` (the rollback job's line) and `default`."""
    api = target.ctx.engine()
    recorded = group_releases.history(api, target.key)
    readings = target.read(api)
    if args.json:
        target.ctx.console.json(group_plan.entries(target.group, recorded, readings,
                                                   time.time()))
        return 0
    current = group_plan.running_release(recorded, readings)
    lines = [f"{'*' if current and r.seq == current.seq else ' '} #{r.seq:<4} {r.created:20}  "
             f"build {r.build_number or '-':>6}  " + ", ".join(
                 f"{m} #{e['seq']}" for m, e in r.members.items()) for r in recorded]
    return _print(target.ctx, args, None, lines or [f"group {target.group.name}: no group "
                                                    "releases recorded"])


def _release(summary):
    return f"#{summary['seq']}" if summary else "-"


def _print(ctx, args, record, lines):
    if getattr(args, "json", False) and record is not None:
        ctx.console.json(record)
    else:
        for line in lines:
            ctx.console.result(line)
    return 0

