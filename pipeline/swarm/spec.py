"""Build the desired service spec (raw Engine API document) and compare it with the current one.

Only the fields shipway manages are compared and written; anything else an operator set on the
service (placement, resources, ...) is carried over untouched, as ansible's docker_swarm_service
does.
"""
import copy
import time

from pipeline.units import to_nanos

LABEL_PREFIX = "shipway."
# Deploy metadata recorded on the service: what runs and who put it there.
DEPLOY_LABELS = ("image", "digest", "commit", "build-number", "build-url", "job", "deployed-at")
# Changes on every deploy; not a reason to update by itself.
VOLATILE_LABELS = {LABEL_PREFIX + "deployed-at", LABEL_PREFIX + "release"}
# These values are compared and replaced whole (a removed env var must go away).
WHOLE = {"Labels", "Env", "Networks", "Ports"}


def _update_config(update):
    return {
        "Parallelism": update["parallelism"],
        "Delay": to_nanos(update["delay"]),
        "FailureAction": update["failure_action"],
        "Monitor": to_nanos(update["monitor"]),
        "MaxFailureRatio": update["max_failure_ratio"],
        "Order": update["order"],
    }


def deploy_labels(image, digest, build, release_id=""):
    """shipway.* labels for a deploy of `image` (pinned) by `build`, as release `release_id`."""
    values = {
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


def desired_spec(settings, image, network_ids, labels):
    """The managed part of the service spec for `settings` running `image` (pinned)."""
    deploy = settings["deploy"]
    endpoint = {"Mode": deploy.get("endpoint_mode", "dnsrr")}
    endpoint["Ports"] = [
        {"Protocol": p.get("protocol", "tcp"), "TargetPort": p["target"],
         "PublishedPort": p.get("published", p["target"]), "PublishMode": "host"}
        for p in deploy["ports"]
    ]
    return {
        "Name": settings["name"],
        "Labels": {**deploy["labels"], **labels},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": image,
                "Env": [f"{k}={v}" for k, v in sorted(deploy["env"].items())],
                "StopGracePeriod": to_nanos(deploy["stop_grace_period"]),
            },
            "Networks": [{"Target": network_ids[n]} for n in deploy["networks"]],
        },
        "Mode": {"Replicated": {"Replicas": deploy["replicas"]}},
        "UpdateConfig": _update_config(deploy["update"]),
        "RollbackConfig": _update_config(deploy["rollback"]),
        "EndpointSpec": endpoint,
    }


def apply(current, desired):
    """`current` spec with every managed field set as in `desired` (a new document)."""
    out = copy.deepcopy(current or {})
    for key, value in desired.items():
        if isinstance(value, dict) and key not in WHOLE and isinstance(out.get(key), dict):
            out[key] = apply(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def differences(current, desired, path=""):
    """Dotted paths of managed fields whose current value differs from the desired one."""
    found = []
    for key, want in desired.items():
        have = (current or {}).get(key)
        dotted = f"{path}{key}"
        if key == "Labels":
            have = {k: v for k, v in (have or {}).items() if k not in VOLATILE_LABELS}
            want = {k: v for k, v in want.items() if k not in VOLATILE_LABELS}
        if isinstance(want, dict) and key not in WHOLE and key != "Labels":
            found += differences(have or {}, want, dotted + ".")
        elif _normal(have) != _normal(want):
            found.append(dotted)
    return found


def _normal(value):
    # The engine omits zero values (0, "", empty lists/maps) from what it stores: treat
    # absent and zero alike.
    if value in (None, [], {}, "") or (isinstance(value, (int, float)) and value == 0):
        return None
    return value


def describe(current, desired, paths):
    """One short line per differing field: `path: old -> new` (labels: which keys changed)."""
    lines = []
    for dotted in paths:
        old, new = _get(current, dotted), _get(desired, dotted)
        if isinstance(old, dict) or isinstance(new, dict):
            old, new = old or {}, new or {}
            changed = sorted(k for k in set(old) | set(new)
                             if old.get(k) != new.get(k) and k not in VOLATILE_LABELS)
            marks = [("+" if k not in old else "-" if k not in new else "~") + k for k in changed]
            lines.append(f"{dotted}: {' '.join(marks)}")
        elif dotted.endswith(("Delay", "Monitor", "StopGracePeriod")):
            lines.append(f"{dotted}: {(old or 0) / 1e9:g}s -> {(new or 0) / 1e9:g}s")
        else:
            lines.append(f"{dotted}: {old!r} -> {new!r}")
    return lines


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


def digest_of(image):
    """The sha256 digest pinned in an image reference, or None."""
    if image and "@" in image:
        return image.rsplit("@", 1)[1]
    return None
