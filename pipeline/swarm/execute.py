"""The one executor of plans: it carries out typed writes (pipeline/swarm/writes.py) in order,
and the one retry policy for a service write swarm refused as "update out of sequence".

A service update is a compare-and-swap: it is written at the version the plan was made from.
When someone else wrote the service in between, swarm refuses it, and the whole step is done
again: read again, plan again, write at the fresh version (`retried`, with tenacity).
"""
import tenacity

from pipeline.api import engine
from pipeline.swarm import group_releases, objects
from pipeline.swarm import releases as history
from pipeline.swarm.writes import (
    CreateNamingKey,
    CreateNetwork,
    CreateObject,
    CreateService,
    LabelRelease,
    RemoveGroupRecords,
    RemoveObjects,
    RemoveRecords,
    RemoveService,
    RemoveStackObject,
    UpdateService,
)

ATTEMPTS = 5           # reads and writes of one step, when swarm keeps refusing it
NEW_ID = "(new)"       # the id a plan gives a secret or config it creates (known once made)


def _out_of_sequence(exc):
    return isinstance(exc, engine.Refused) and engine.is_out_of_sequence(exc)


def retried(step, report=None):
    """step() (read, plan, write at the version read), done again while swarm refuses the
    write as out of sequence (someone else wrote the service meanwhile), up to ATTEMPTS
    times, a random 0.1 to 0.5 s apart (to let the other writer finish). Its value; a refusal
    of any other kind, or the last one, as an EngineError."""
    def before_sleep(state):
        if report:
            report(f"the service changed meanwhile ({engine.short(state.outcome.exception())});"
                   " retrying on its fresh spec")

    retrying = tenacity.Retrying(retry=tenacity.retry_if_exception(_out_of_sequence),
                                 stop=tenacity.stop_after_attempt(ATTEMPTS),
                                 wait=tenacity.wait_random(0.1, 0.5),
                                 before_sleep=before_sleep, reraise=True)
    try:
        return retrying(step)
    except engine.Refused as exc:
        raise engine.api_error(exc, "the engine refused the service change") from None


def carry_out(api, writes, registry_auth, report):
    """Make `writes` in order, reporting each one's lines. Returns {(kind, name): id} of the
    secrets and configs created, which the service writes after them refer to (a plan names
    them NEW_ID)."""
    made = {}
    for write in writes:
        for line in write.doing.splitlines():
            report(line)
        if isinstance(write, CreateObject):
            item = write.wanted
            made[(item.kind, item.name)] = objects.ensure(api, [item], report)[item.source]["ID"]
        elif isinstance(write, CreateNamingKey):
            objects.naming_key(api, report)
        elif isinstance(write, CreateNetwork):
            if engine.create_network(api, write.name, write.spec) is None:
                report(f"network {write.name} exists (made meanwhile): used as it is")
        elif isinstance(write, CreateService):
            engine.create_service(api, with_ids(write.spec, made), registry_auth)
        elif isinstance(write, UpdateService):
            engine.update_service(api, write.service_id, write.version,
                                  with_ids(write.spec, made), registry_auth,
                                  rollback=write.rollback)
        elif isinstance(write, LabelRelease):
            if not history.label(api, write.release, write.labels):
                report(f"release #{write.release.seq} has no record any more (pruned "
                       "meanwhile): nothing to note the rollback on")
                continue
        elif isinstance(write, RemoveService):
            engine.remove_service(api, write.service_id)
        elif isinstance(write, RemoveRecords):
            history.remove_all(api, write.name)
        elif isinstance(write, RemoveObjects):
            remove_objects(api, write.name, write.settle, report)
        elif isinstance(write, RemoveGroupRecords):
            group_releases.remove_all(api, write.key)
        elif isinstance(write, RemoveStackObject):
            if not remove_stack_object(api, write, report):
                continue
        else:
            raise TypeError(f"not a write: {write!r}")
        if write.done:
            report(write.done)
    return made


def with_ids(spec, made):
    """`spec` with the ids of the secrets and configs just made where the plan had NEW_ID
    (the spec itself when it names none)."""
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    lists = [(kind, key) for kind, key in (("secret", "Secrets"), ("config", "Configs"))
             if any(ref.get(f"{kind.capitalize()}ID") == NEW_ID
                    for ref in container.get(key) or ())]
    if not lists:
        return spec
    out = {**spec, "TaskTemplate": {**spec["TaskTemplate"], "ContainerSpec": dict(container)}}
    for kind, key in lists:
        ident, name = f"{kind.capitalize()}ID", f"{kind.capitalize()}Name"
        out["TaskTemplate"]["ContainerSpec"][key] = [
            {**ref, ident: made[(kind, ref[name])]} if ref.get(ident) == NEW_ID else ref
            for ref in container[key]]
    return out


def remove_objects(api, name, settle, report):
    """Remove what shipway made for service `name`, trying again for `settle` seconds: a
    container that is still stopping holds its secrets a moment longer (the engine says "in
    use" until it is gone)."""
    def still_owned(_):
        return bool(objects.collect_garbage(api, name, [], None, dry_run=True))

    settling(still_owned, settle, objects.remove_all, api, name, report)
    owned = objects.collect_garbage(api, name, [], None, dry_run=True)
    if owned:
        report(f"left in place, still in use: {', '.join(f'{k} {o}' for k, o in owned)} "
               "(run shipway remove again to remove them)")


def remove_stack_object(api, write, report):
    """Remove the network, config or secret of `write` (a RemoveStackObject), waiting up to
    its `settle` seconds while the engine refuses it as in use (a removed service's tasks
    still stopping hold it), and for a network until it is gone: swarm accepts its removal
    and deletes it once no task uses it any more. False, said in one line, when it is still
    there then."""
    def attempt():
        if write.kind == "network":
            return engine.remove_network(api, write.object_id)
        return engine.remove_object(api, write.kind, write.object_id)

    still = settling(lambda got: got == "in use", write.settle, attempt) == "in use"
    if not still and write.kind == "network":
        still = settling(bool, write.settle, engine.inspect_network, api,
                         write.object_id) is not None
    if still:
        report(f"left in place, still in use after {write.settle:.0f}s: {write.kind} "
               f"{write.name} (something outside the group uses it, or swarm has not "
               "released it yet: remove the group again)")
        return False
    return True


def settling(condition, settle, fn, *args):
    """fn(*args), again every 0.5 s for up to `settle` seconds while `condition` holds of
    its answer; the last answer. (A container still stopping holds what it used a moment
    longer: the engine says "in use" until it is gone.)"""
    return tenacity.Retrying(retry=tenacity.retry_if_result(condition),
                             stop=tenacity.stop_after_delay(settle),
                             wait=tenacity.wait_fixed(0.5),
                             retry_error_callback=lambda state: state.outcome.result())(
        fn, *args)
