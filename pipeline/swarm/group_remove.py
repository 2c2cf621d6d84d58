"""What `shipway remove --group` reads before it decides (group_remove_plan.plan): every
member's service, release records and the secrets and configs shipway made for it; the
group's release records; for a stack group, the services its namespace labels that the
file no longer has, and the networks, configs, secrets and volumes that label names. The
record is JSON-ready: tests/fixtures/groupremove keeps it as read from the lab.
"""
from pipeline.api import engine
from pipeline.swarm import group_releases, objects
from pipeline.swarm import releases as history
from pipeline.swarm.stack import NAMESPACE_LABEL


def stack_services(api, stack):
    """The names of the services the namespace label of `stack` names, sorted."""
    return sorted(s["Spec"]["Name"] for s in engine.list_services(api, {NAMESPACE_LABEL: stack}))


def service(api, name):
    """One service as `shipway remove` sees it: its document (None when there is none), its
    release records ({seq, image}, newest first) and what shipway made for it."""
    return {"service": name, "current": engine.inspect_service(api, name),
            "releases": [{"seq": r.seq, "image": r.image} for r in history.history(api, name)],
            "owned": [list(item) for item in
                      objects.collect_garbage(api, name, [], None, dry_run=True)]}


def read(api, group, names, key, leftovers=()):
    """The record group_remove_plan.plan decides from (`names`: member -> swarm service
    name; `key`: the group's record key; `leftovers`: a stack's services not in its file)."""
    reading = {"group": group.name, "stack": group.stack, "key": key,
               "members": {member: service(api, name) for member, name in names.items()},
               "leftovers": {name: service(api, name) for name in leftovers},
               "group_records": [{"seq": r.seq, "config_id": r.config_id}
                                 for r in group_releases.history(api, key)]}
    if group.stack is not None:
        labels = {NAMESPACE_LABEL: group.stack}
        reading.update(networks=engine.list_networks(api, labels),
                       configs=engine.list_objects(api, "config", labels),
                       secrets=engine.list_objects(api, "secret", labels),
                       volumes=engine.list_volumes(api, labels))
    return reading


def left(api, group, services, key):
    """What is still there after the removal of `services` (swarm names): those services,
    the group's records and the stack's networks, configs and secrets (lines; empty when
    all are gone)."""
    out = [f"service {name}" for name in services
           if engine.inspect_service(api, name) is not None]
    out += [f"group release record #{r.seq}" for r in group_releases.history(api, key)]
    if group.stack is not None:
        labels = {NAMESPACE_LABEL: group.stack}
        out += [f"network {n['Name']}" for n in engine.list_networks(api, labels)]
        out += [f"{kind} {o['Spec']['Name']}" for kind in ("config", "secret")
                for o in engine.list_objects(api, kind, labels)]
    return out
