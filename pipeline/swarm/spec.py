"""shipway's part of a service spec: its labels, its create-time defaults, and readers.

What a deploy writes is decided in pipeline/swarm/plan.py; the fields come from the catalog
(pipeline/swarm/compose.py). Specs are raw Engine API documents.
"""
import time

LABEL_PREFIX = "shipway."
# Deploy metadata recorded on the service: what runs and who put it there.
DEPLOY_LABELS = ("image", "digest", "commit", "build-number", "build-url", "job", "deployed-at")
# Who made the release and where it came from (a promotion): recorded with it, and cleared by
# the next deploy that does not say them again.
PROVENANCE_LABELS = ("deployed-by", "approved-by", "promoted-from.environment",
                     "promoted-from.release", "promoted-from.digest")
# On a spec whose update analysis holds after its first batch (swarm/canary.py): the
# service's own UpdateConfig, as JSON, for the write that releases the rest.
HELD_LABEL = LABEL_PREFIX + "held-update-config"
# Changes on every deploy, or says who asked: not a reason to update by itself.
VOLATILE_LABELS = {LABEL_PREFIX + "deployed-at", LABEL_PREFIX + "release",
                   *(LABEL_PREFIX + key for key in PROVENANCE_LABELS)}
SECOND = 1_000_000_000
_POLICY = {"Parallelism": 1, "Delay": 0, "Monitor": 5 * SECOND, "MaxFailureRatio": 0,
           "Order": "start-first"}
# shipway's defaults, used only when it creates a service from a catalog entry (a service it
# adopts keeps its own): health-gated rolling updates that roll back by themselves, and dnsrr,
# which works on kernels without IPVS. Paths into the Engine's ServiceSpec.
CREATE_DEFAULTS = {
    ("Mode", "Replicated", "Replicas"): 1,
    ("EndpointSpec", "Mode"): "dnsrr",
    ("TaskTemplate", "ContainerSpec", "StopGracePeriod"): 10 * SECOND,
    **{("UpdateConfig", k): v for k, v in {**_POLICY, "FailureAction": "rollback"}.items()},
    **{("RollbackConfig", k): v for k, v in {**_POLICY, "FailureAction": "pause"}.items()},
}
# ... and for a job service (deploy.mode replicated-job or global-job), which the engine
# refuses an update or rollback policy: a task that fails is not run again by swarm on its
# own (the deploy that ran it says it failed; the next deploy runs it again), unless the
# catalog sets deploy.restart_policy.
JOB_CREATE_DEFAULTS = {
    ("EndpointSpec", "Mode"): "dnsrr",
    ("TaskTemplate", "ContainerSpec", "StopGracePeriod"): 10 * SECOND,
    ("TaskTemplate", "RestartPolicy", "Condition"): "none",
}


def deploy_labels(image, digest, build, release_id="", provenance=None):
    """shipway.* labels for a deploy of `image` (pinned) by `build`, as release `release_id`;
    `provenance`: PROVENANCE_LABELS keys -> values (who, a promotion's origin)."""
    values = {
        **(provenance or {}),
        "release": release_id,
        "image": image,
        "digest": digest,
        "commit": build.commit,
        "build-number": build.number,
        "build-url": build.url,
        "job": build.job,
        "deployed-at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return {LABEL_PREFIX + k: v for k, v in values.items() if v}


def _get(doc, dotted):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def image_of(spec):
    """The image a service spec runs (None for no spec)."""
    return _get(spec, "TaskTemplate.ContainerSpec.Image") if spec else None


def task_image(task):
    """The image a task runs."""
    return _get(task, "Spec.ContainerSpec.Image")


# a task on its way to running (swarm's task states before "running")
PENDING_STATES = {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting"}


def task_slot(task):
    """A task's place in the service: its replica slot, or its node for a global service."""
    return task.get("Slot") or task.get("NodeID")


def digest_of(image):
    """The sha256 digest pinned in an image reference, or None."""
    if image and "@" in image:
        return image.rsplit("@", 1)[1]
    return None
