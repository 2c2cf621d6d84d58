"""A rolling update in steps judged by analysis: first batch -> canary -> the rest -> bake.

Swarm has no "pause after the first batch" switch, but its updater waits `Delay` after each
task it updated, per worker, and runs `Parallelism` workers (swarmkit
manager/orchestrator/update/updater.go). So the first write carries the release's spec with
UpdateConfig Parallelism = the first batch and a Delay longer than the canary window: swarm
updates one batch and idles. When the canary passes, the same spec is written again with the
user's own UpdateConfig: swarmkit cancels the running updater on a spec change and starts a
new one over the slots still dirty (the canary's tasks already match the template, so they
stay), which rolls out the rest as the user configured it. A failed check restores the release
before through `apply.rollback`, the same restore as `shipway rollback`.

Swarm's own failure action during "the rest" would roll back to the spec before the second
write, i.e. the canary's, with the new image: so a failed rest is restored here too.

The first write also carries the service's own UpdateConfig as a label (spec.HELD_LABEL): a
deploy paused by an inconclusive canary (on_inconclusive: pause) exits, and `shipway continue`
makes the second write later from what the service holds. Here: the pure plans of the writes;
pipeline/swarm/steps.py carries them out around the windows.
"""
import copy
import dataclasses
import json

from pipeline.swarm import plan as planner
from pipeline.swarm.judge import Outcome
from pipeline.swarm.spec import HELD_LABEL, image_of
from pipeline.swarm.writes import ReleaseRest, UpdateService
from pipeline.units import to_nanos


def first_batch(spec):
    """How many tasks the first step updates, or None when the update is one step (a single
    replica, parallelism 0 = all at once, or a batch as large as the service)."""
    replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas") or 0
    parallelism = (spec.get("UpdateConfig") or {}).get("Parallelism") or 0
    if 0 < parallelism < replicas:
        return parallelism
    return None


def canary_spec(spec, batch, hold_seconds):
    """`spec` with UpdateConfig Parallelism `batch` and a Delay of `hold_seconds`: swarm
    updates one batch, then waits (pure)."""
    out = copy.deepcopy(spec)
    update = dict(out.get("UpdateConfig") or {})
    update["Parallelism"] = batch
    update["Delay"] = to_nanos(hold_seconds)
    out["UpdateConfig"] = update
    return out


def hold_seconds(config, timeout):
    """How long swarm holds the update after the first batch: the canary window, the waits
    around it (each bounded by the deploy's timeout) and a margin; with on_inconclusive:
    pause, also the time a paused update waits for its answer (pause_timeout)."""
    hold = config.canary + 2 * timeout + 60
    return hold + (config.pause_timeout if config.on_inconclusive == "pause" else 0)


def first_write(plan, config, timeout):
    """The plan of an update judged by analysis (pure): when it takes several steps, its
    write carries the canary's UpdateConfig (the first batch, then a hold longer than the
    canary window) and the service's own as a label, and the plan says how it differs from
    the spec (`plan.canary`); swarm gets the user's own UpdateConfig again once the canary
    passed (steps.Steps.wait)."""
    batch = first_batch(plan.spec)
    if batch is None:
        return plan
    held = canary_spec(plan.spec, batch, hold_seconds(config, timeout))
    own = held_value(plan.spec.get("UpdateConfig") or {})
    held["Labels"] = {**(held.get("Labels") or {}), HELD_LABEL: own}
    write = plan.writes[0]
    note = (f"analysis: updating a first batch of {batch}, then a {config.canary:g}s canary "
            "window before the rest")
    changes = [planner.Change(("UpdateConfig", key), planner.get(plan.spec, ("UpdateConfig", key)),
                              held["UpdateConfig"][key]) for key in ("Parallelism", "Delay")
               if planner.normal(planner.get(plan.spec, ("UpdateConfig", key)))
               != planner.normal(held["UpdateConfig"][key])]
    changes.append(planner.Change(("Labels", HELD_LABEL), None, own))
    rest = ReleaseRest(write.spec["TaskTemplate"]["ContainerSpec"]["Image"],
                       copy.deepcopy(plan.spec.get("UpdateConfig") or {}),
                       done="analysis: canary passed; updating the rest")
    return dataclasses.replace(plan, writes=[dataclasses.replace(
        write, spec=held, doing=f"{note}\n{write.doing}")] + plan.writes[1:],
        canary=changes, batch=batch, then=[rest])


def held_value(update_config):
    """The HELD_LABEL value of a service's own UpdateConfig: compact JSON."""
    return json.dumps(update_config, sort_keys=True, separators=(",", ":"))


def held_rest(service, labels=None, done="analysis: updating the rest"):
    """The ReleaseRest a held update still waits for (from its HELD_LABEL), with `labels`
    added (who approved it), or None when the service holds nothing (pure)."""
    spec = (service or {}).get("Spec") or {}
    value = (spec.get("Labels") or {}).get(HELD_LABEL)
    if not value:
        return None
    try:
        update_config = json.loads(value)
    except ValueError:
        update_config = None
    if not isinstance(update_config, dict):
        # not a label shipway wrote: the rest goes out with swarm's own defaults
        update_config = {}
    return ReleaseRest(image_of(spec), update_config, labels=dict(labels or {}), done=done)


def rest_write(rest, service):
    """The UpdateService of a ReleaseRest against the service as just read (pure), or the
    Outcome when another change replaced the release meanwhile: the service's own
    UpdateConfig back, the hold's label gone, the rest's labels added."""
    if service is None or image_of(service["Spec"]) != rest.image:
        return Outcome(False, "another change to the service replaced this one",
                       running_image=image_of((service or {}).get("Spec")) or "nothing")
    spec = copy.deepcopy(service["Spec"])
    spec["UpdateConfig"] = copy.deepcopy(rest.update_config)
    labels = {k: v for k, v in (spec.get("Labels") or {}).items() if k != HELD_LABEL}
    spec["Labels"] = {**labels, **rest.labels}
    return UpdateService(service["ID"], service["Version"]["Index"], spec, done=rest.done)
