"""Hand-over between the stages of one build: image -> push -> deploy.

A stage writes a small JSON file under the state dir ($WORKSPACE/.shipway by default);
the next stage of the same build reads it when its flags do not say otherwise.
"""
import json
import os

from pipeline.errors import UsageError


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


def load(state_dir, service, what, shape=None):
    """One stage's result, or None when that stage has not run in this workspace.

    `shape` maps the keys the caller reads to their type (a list: of strings, not empty). A state
    file that cannot be read or does not have that shape is a UsageError naming it: the
    workspace is damaged, and going on would act on a half-read result.
    """
    path = _path(state_dir, service, what)
    try:
        data, problem = _json_object(path)
    except FileNotFoundError:
        return None
    if problem:
        raise _damaged(path, what, problem)
    for key, kind in (shape or {}).items():
        value = data.get(key)
        if not isinstance(value, kind) or (kind is list and not (value and all(
                isinstance(item, str) for item in value))):
            raise _damaged(path, what, f"no valid {key!r}")
    return data


def read_record(path, flag, hint):
    """The JSON object in `path`, a record a stage wrote (its --json output, or its file in
    the state dir) that `flag` names; a UsageError naming the file when it is missing,
    unreadable or not a JSON object."""
    try:
        data, problem = _json_object(path)
    except FileNotFoundError:
        data, problem = None, "no such file"
    if problem:
        raise UsageError(f"{flag} {path}: cannot use it: {problem}", hint=hint)
    return data


def _json_object(path):
    """(the JSON object in `path`, '') or (None, why it is not one); FileNotFoundError
    passes through (the callers tell a missing file apart)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise
    except OSError as exc:
        return None, exc.strerror
    except ValueError as exc:   # JSONDecodeError, UnicodeDecodeError
        return None, f"not JSON ({exc.__class__.__name__})"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    return data, ""


def _damaged(path, what, problem):
    return UsageError(f"cannot use the state file {path}: {problem}",
                      hint=f"remove it and run `shipway {what}` again, or pass --state-dir")
