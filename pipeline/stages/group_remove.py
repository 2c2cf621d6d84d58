"""`shipway remove --group G`: take a group down as `docker stack rm` takes a stack down.

Every member's lock first (in the order deploy --group takes them, so a deploy in flight
cannot recreate what this removes), then what was read is decided in one plan
(pipeline/swarm/group_remove_plan.py) and carried out by the one executor: the members
newest step first, each as `shipway remove` removes one, the group's release records, and
for a stack group the networks, configs and secrets its namespace labels. Volumes stay.
"""
from pipeline.api.engine import engine_errors
from pipeline.errors import DeployError
from pipeline.stages import common
from pipeline.swarm import execute, group_plan, group_remove, group_remove_plan

SETTLE = 30.0   # seconds an object the removed services' stopping tasks hold is waited for
LEFTOVER_LOCK = {"timeout": 60.0}   # a stack service no catalog entry has: deploy --prune's


def _leftovers(target, api):
    """A stack group's services its file no longer has (labelled with its namespace)."""
    if target.group.stack is None:
        return []
    return group_plan.left_behind(target.group.stack,
                                  group_remove.stack_services(api, target.group.stack),
                                  target.names().values())


def remove(target, args):
    """Remove the group (see the module doc); --dry-run prints the plan and changes
    nothing. Exit 1 when something the plan removes is still there afterwards."""
    ctx, name = target.ctx, target.group.name
    api = ctx.engine()
    with engine_errors(f"remove of group {name}"):
        leftovers = _leftovers(target, api)
        with target.locked(api, args, "remove") as held:
            for service in leftovers:    # after the members', as deploy --prune takes them
                held.enter_context(common.locked(ctx, api, {"name": service,
                                                            "deploy": LEFTOVER_LOCK},
                                                 "remove", args))
            reading = group_remove.read(api, target.group, target.names(), target.key,
                                        leftovers)
            writes, lines = group_remove_plan.plan(target.group, reading, SETTLE)
            kept = group_remove_plan.volumes_kept(target.group.stack, reading) \
                if target.group.stack else []
            if args.dry_run:
                return _print(ctx, args, {"group": name, "dry_run": True, "plan": lines,
                                          "volumes_kept": kept}, lines)
            for line in [lines[0], *group_remove_plan.notes(lines)]:
                ctx.console.event(line)
            execute.carry_out(api, writes, None, ctx.console.event)
            left = group_remove.left(api, target.group, [*target.names().values(), *leftovers],
                                     target.key)
    record = {"group": name, "ok": not left, "plan": lines, "left": left,
              "volumes_kept": kept}
    if left:
        if args.json:
            ctx.console.json(record)
        raise DeployError(f"remove of group {name}: still there: {', '.join(left)}",
                          hint=f"run shipway remove --group {name} again once nothing else "
                               "uses them")
    return _print(ctx, args, record, [f"group {name} removed" + (
        f"; volumes kept, as data: {', '.join(kept)}" if kept else "")])


def _print(ctx, args, record, lines):
    if args.json:
        ctx.console.json(record)
    else:
        for line in lines:
            ctx.console.result(line)
    return 0
