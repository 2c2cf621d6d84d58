"""`shipway remove --group`, decided from what was read (group_remove.read): what to remove,
in order. Pure: no engine here; the writes are carried out by execute.carry_out.

The order undoes a deploy: a stack's services its file no longer has first, then the
members newest step first (a wave's members in name order), each as `shipway remove` removes
one (its service, its release records, the secrets and configs shipway made for it); then
the group's release records; then, for a stack group, what is left that its namespace label
(`com.docker.stack.namespace`) names: the networks, configs and secrets stack deploy (or
shipway, as stack deploy does) made for the stack, once the services that used them are
gone. That is what `docker stack rm` removes. Volumes are never removed (they are data), and
nothing without the stack's label is touched: an external network or secret carries none.
"""
from dataclasses import dataclass

from pipeline.swarm import rollback_plan
from pipeline.swarm.stack import NAMESPACE_LABEL
from pipeline.swarm.writes import RemoveGroupRecords, RemoveStackObject

OBJECT_KINDS = ("network", "config", "secret")   # what a stack's label may name, removed


@dataclass(frozen=True)
class RecordedRelease:
    """A release record as the plan needs it (rollback_plan.plan_remove reads these two)."""

    seq: int
    image: str


def member_order(group):
    """The members newest step first, a wave's members in name order: the reverse of the
    order a deploy brings them up in."""
    return [member for step in reversed(group.steps) for member in sorted(step.services)]


def _service(label, found, settle):
    """(writes, lines) removing one service (`found`: its reading) as `shipway remove`
    does; a service with nothing left is a line, not an error."""
    name = found["service"]
    current = found.get("current")
    releases = [RecordedRelease(r["seq"], r["image"]) for r in found.get("releases") or ()]
    owned = [tuple(item) for item in found.get("owned") or ()]
    if current is None and not releases and not owned:
        return [], [f"{label} ({name}): no service and no release records: {NOTHING}"]
    writes, lines = rollback_plan.plan_remove(name, current, releases, owned, settle)
    return writes, [f"{label}: {line}" for line in lines]


def _stack_objects(stack, reading, taken):
    """The stack's networks, configs and secrets to remove, by kind then name: those its
    namespace label names (checked again here: nothing else is ever removed), but not
    those a member's removal takes already (`taken`: {(kind, name)})."""
    out = []
    for kind in OBJECT_KINDS:
        for obj in sorted(reading.get(f"{kind}s") or (), key=_name):
            if _labels(obj).get(NAMESPACE_LABEL) == stack and (kind, _name(obj)) not in taken:
                out.append((kind, obj.get("ID") or obj.get("Id"), _name(obj)))
    return out


def _name(obj):
    """An object's name as the Engine lists it: networks and volumes at the top, configs
    and secrets under Spec."""
    return obj.get("Name") or obj.get("Spec", {}).get("Name", "")


def _labels(obj):
    return obj.get("Labels") or obj.get("Spec", {}).get("Labels") or {}


def volumes_kept(stack, reading):
    """The names of the stack's volumes (its label): kept, as data."""
    return sorted(_name(v) for v in reading.get("volumes") or ()
                  if _labels(v).get(NAMESPACE_LABEL) == stack)


def notes(lines):
    """The lines of a plan no write says when it is carried out (a member with nothing to
    remove, a group with no records): the run says them too."""
    return [line for line in lines if line.endswith(NOTHING) or line.endswith(NO_RECORDS)]


NOTHING = "nothing to remove"
NO_RECORDS = "has no group release records"


def plan(group, reading, settle=30.0):
    """(the writes, the lines saying them) of `shipway remove --group` (`reading`:
    group_remove.read's record: members, leftovers, group_records, and for a stack group
    its labelled networks, configs, secrets and volumes)."""
    writes, lines = [], [f"group {group.name}: remove every member, newest step first"]
    for name in sorted(reading.get("leftovers") or {}):
        more, said = _service(f"{name} (not in the stack file any more)",
                              reading["leftovers"][name], settle)
        writes, lines = writes + more, lines + said
    for member in member_order(group):
        more, said = _service(member, reading["members"][member], settle)
        writes, lines = writes + more, lines + said
    records = sorted(r["seq"] for r in reading.get("group_records") or ())
    if records:
        writes.append(RemoveGroupRecords(reading["key"], len(records),
                                         done=f"{len(records)} group release records of "
                                              f"{group.name} removed"))
        lines.append(f"remove group release records {', '.join(f'#{s}' for s in records)}")
    else:
        lines.append(f"group {group.name} {NO_RECORDS}")
    if group.stack is None:
        return writes, lines
    taken = {(kind, obj) for found in [*reading["members"].values(),
                                       *(reading.get("leftovers") or {}).values()]
             for kind, obj in found.get("owned") or ()}
    for kind, ident, name in _stack_objects(group.stack, reading, taken):
        writes.append(RemoveStackObject(kind, ident, name, settle, done=f"{kind} {name} "
                                                                        "removed"))
        lines.append(f"remove {kind} {name} (stack {group.stack})")
    kept = volumes_kept(group.stack, reading)
    if kept:
        lines.append(f"volumes kept, as data: {', '.join(kept)} (docker volume rm removes "
                     "them)")
    return writes, lines
