"""Hand-over between the stages of one build: image -> push -> deploy.

A stage writes a small JSON file under the state dir ($WORKSPACE/.shipway by default);
the next stage of the same build reads it when its flags do not say otherwise.
"""
import json
import os


def _path(state_dir, service, what):
    return os.path.join(state_dir, f"{service}.{what}.json")


def save(state_dir, service, what, data):
    """Write one stage's result atomically."""
    os.makedirs(state_dir, exist_ok=True)
    path = _path(state_dir, service, what)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path


def load(state_dir, service, what):
    """One stage's result, or None when that stage has not run in this workspace."""
    try:
        with open(_path(state_dir, service, what), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
