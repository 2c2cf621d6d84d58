"""Read Jenkins' state and carry out a plan, with a pool of worker threads.

Order matters in Jenkins: an item can only be created inside a folder that exists, and
deleting a folder deletes what is inside. So every catalog action waits for the action on
its nearest planned ancestor (folders strictly before their children) and a folder's
delete waits for the deletes inside it. A failed action fails what waits on it ("skipped"),
never anything else: one broken job does not stop the others.

Only the calling thread reports: outcomes come back to it, so lines never interleave.
"""
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from pipeline.jobs import plan as planmod
from pipeline.jobs.failures import GLOBAL_KINDS, RequestFailed


@dataclass
class Outcome:
    """How one action ended."""

    action: planmod.Action
    ok: bool
    message: str = ""


@dataclass
class LiveState:
    """What `read_live` found: the listing, configs read, and configs that failed to read."""

    items: dict
    configs: dict
    errors: dict


def read_live(client, desired, marker, *, workers=4):
    """List Jenkins, then read the configs the plan needs, `workers` at a time.

    Configs read: every catalog path that exists, and every other item whose description
    carries our `marker` (prune candidates). A listing failure raises (nothing can be
    planned without it); a config that cannot be read is recorded in `errors`.
    """
    items = client.inventory()
    desired_paths = {item.path for item in desired}
    wanted = [item.path for item in desired if item.path in items]
    wanted += planmod.prune_candidates(items, desired_paths, marker)
    configs, errors = {}, {}
    if not wanted:
        return LiveState(items, configs, errors)
    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="shipway-jenkins") as pool:
        futures = {pool.submit(client.get_config, path): path for path in wanted}
        for future, path in futures.items():
            try:
                configs[path] = future.result()
            except RequestFailed as exc:
                if exc.failure.kind in GLOBAL_KINDS:
                    raise
                errors[path] = exc.failure.message
    return LiveState(items, configs, errors)


def dependencies(actions):
    """{path: [paths it waits for]} for the actions that run or fail."""
    catalog_paths = {a.path for a in actions if a.op in (planmod.CREATE, planmod.UPDATE,
                                                          planmod.UNCHANGED, planmod.FAIL)
                     and a.desired is not None}
    deletes = {a.path for a in actions if a.op == planmod.DELETE}
    deps = {}
    for action in actions:
        if action.path in catalog_paths:
            parent = planmod.parent_of(action.path)
            while parent and parent not in catalog_paths:
                parent = planmod.parent_of(parent)
            deps[action.path] = [parent] if parent else []
        elif action.path in deletes:
            deps[action.path] = [p for p in deletes if planmod.parent_of(p) == action.path]
        elif action.op == planmod.FAIL:
            deps[action.path] = []  # a prune candidate whose config could not be read
    return deps


def execute(client, actions, *, workers=4, report=None):
    """Carry out CREATE/UPDATE/DELETE actions; returns an Outcome per action that counts.

    `report(outcome)` is called in this thread as each action ends.
    """
    report = report or (lambda outcome: None)
    deps = dependencies(actions)
    by_path = {a.path: a for a in actions if a.path in deps}
    waiting_on = {path: set(needs) for path, needs in deps.items()}
    dependents = {}
    for path, needs in deps.items():
        for need in needs:
            dependents.setdefault(need, []).append(path)
    outcomes = {}
    aborted = []  # the global failure that stops new work, if any

    def settle(path, ok, message):
        outcome = Outcome(by_path[path], ok, message)
        outcomes[path] = outcome
        report(outcome)
        released = []
        for child in dependents.get(path, []):
            if child in outcomes:
                continue
            if not ok:
                released.append((child, False, _skipped(by_path[child], path)))
                continue
            waiting_on[child].discard(path)
            if not waiting_on[child]:
                released.append((child, None, ""))
        return released

    ready = [(p, None, "") for p in deps if not waiting_on[p]]
    workers = max(1, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shipway-jenkins") as pool:
        running = {}
        while ready or running:
            # Never more in flight than workers: work still waiting here can be stopped
            # when a global failure (bad token, crumbs refused) makes it pointless.
            while ready and len(running) < workers:
                path, ok, message = ready.pop(0)
                action = by_path[path]
                if ok is None:
                    ok, message = _settled_without_work(action, aborted) or (None, "")
                if ok is None:
                    running[pool.submit(_perform, client, action)] = path
                else:
                    ready.extend(settle(path, ok, message))
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                path = running.pop(future)
                failure = future.result()
                if failure is not None and failure.kind in GLOBAL_KINDS and not aborted:
                    aborted.append(failure.message)
                ready.extend(settle(path, failure is None,
                                    failure.message if failure else by_path[path].reason))
    return [outcomes[a.path] for a in actions if a.path in outcomes]


def _settled_without_work(action, aborted):
    """(ok, message) for an action that needs no request (a failed read, nothing to change,
    or a global failure before it), else None."""
    if action.op == planmod.FAIL:
        return False, action.reason
    if action.op == planmod.UNCHANGED:
        return True, action.reason
    if aborted:
        return False, f"not attempted after: {aborted[0]}"
    return None


def _perform(client, action):
    """Run one action in a worker thread; returns its Failure, or None when it worked."""
    try:
        if action.op == planmod.CREATE:
            client.create(action.path, action.desired)
        elif action.op == planmod.UPDATE:
            client.reconfigure(action.path, action.desired)
        elif action.op == planmod.DELETE:
            client.delete(action.path)
    except RequestFailed as exc:
        return exc.failure
    return None


def _skipped(action, failed_path):
    if action.op == planmod.DELETE:
        return f"not pruned: {failed_path} inside it could not be deleted"
    return f"skipped: folder {failed_path} was not provisioned"


def locked(callback):
    """`callback` made safe to call from several threads (one line at a time)."""
    lock = threading.Lock()

    def call(*args, **kwargs):
        with lock:
            return callback(*args, **kwargs)
    return call
