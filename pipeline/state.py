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
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _damaged(path, what, exc.strerror) from None
    except ValueError as exc:   # JSONDecodeError, UnicodeDecodeError
        raise _damaged(path, what, f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise _damaged(path, what, "not a JSON object")
    for key, kind in (shape or {}).items():
        value = data.get(key)
        if not isinstance(value, kind) or (kind is list and not (value and all(
                isinstance(item, str) for item in value))):
            raise _damaged(path, what, f"no valid {key!r}")
    return data


def _damaged(path, what, problem):
    return UsageError(f"cannot use the state file {path}: {problem}",
                      hint=f"remove it and run `shipway {what}` again, or pass --state-dir")
