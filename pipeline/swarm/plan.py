"""The deploy plan: one pure function of (current service, what was asked, release history).

What was asked is a set of *fields*: paths into the raw Engine API ServiceSpec (tuples of keys,
as `docker service inspect` shows them) with the value each must have. A deploy writes exactly
those, and nothing else a user set on the service stays otherwise: env, networks, update policy,
mounts, everything. shipway's own defaults (start-first, rollback on failure, dnsrr, ...) are
used only when it creates the service. A field an earlier deploy set from the catalog that the
catalog no longer sets goes back to the engine's default (it is removed from the spec), as
kubectl's last-applied does; the release record keeps the list of those fields (`managed`).

A plan is typed: its `action`, the writes to make in order (pipeline/swarm/writes.py, carried
out by pipeline/swarm/execute.py) and what to wait for after them (an expect.Expectation, or
`Paused`: swarm paused this very spec earlier). `apply.deploy` carries a plan out; everything it
decides is decided here, so it is tested from JSON fixtures of real specs (tests/fixtures/deploy).
"""
import copy
import enum
from dataclasses import dataclass, field
from typing import Optional, Union

from pipeline.errors import UsageError
from pipeline.swarm.expect import Expectation, Follow
from pipeline.swarm.objects import KEY_CONFIG
from pipeline.swarm.spec import (
    DEPLOY_LABELS,
    HELD_LABEL,
    LABEL_PREFIX,
    PROVENANCE_LABELS,
    VOLATILE_LABELS,
)
from pipeline.swarm.stack import describe
from pipeline.swarm.writes import (
    CreateNamingKey,
    CreateNetwork,
    CreateObject,
    CreateService,
    UpdateService,
)

IN_FLIGHT = ("updating", "rollback_started")
IMAGE = ("TaskTemplate", "ContainerSpec", "Image")
# Fields that hold one of several shapes: a default for one shape must not be mixed into
# another one that the catalog asks for (a global service has no Replicas).
ONE_OF = {("Mode",): ("Replicated", "Global", "ReplicatedJob", "GlobalJob")}
# A field that belongs to another: when a deploy changes the leader and does not set the
# follower, the follower goes back to its default (a new log driver does not take the old
# driver's options), and it stays as it is while the leader does not change.
FOLLOWS = {("TaskTemplate", "LogDriver", "Options"): ("TaskTemplate", "LogDriver", "Name")}
DURATION_KEYS = ("Delay", "Monitor", "StopGracePeriod", "Interval", "Timeout", "StartPeriod",
                 "Window")
ENV = ("TaskTemplate", "ContainerSpec", "Env")


@dataclass(frozen=True)
class Change:
    """One field that a deploy changes: `new` is None where it goes back to the default."""

    path: tuple
    old: object
    new: object

    def summary(self):
        """JSON-ready: {"path", "before", "after"}."""
        return {"path": path_text(self.path), "before": self.old, "after": self.new}

    def line(self):
        """`path: old -> new`, durations in seconds, a removed field as `(default)`."""
        return f"{path_text(self.path)}: {_show(self.path, self.old)} -> " \
               f"{_show(self.path, self.new) if self.new is not None else '(default)'}"


class Action(enum.Enum):
    """What a deploy does to the service."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Paused:
    """Nothing to write and nothing to wait for: swarm paused an update to this very spec
    earlier (`message`: what it said then)."""

    message: str = ""


@dataclass(frozen=True)
class Done:
    """Nothing to write and nothing to wait for: the job service's current spec, on `image`,
    already ran to completion (`run`: its jobrun.Run), and no run was asked for."""

    image: str
    run: object


@dataclass
class Plan:
    """What a deploy writes, in order, and what it then waits for."""

    action: Action
    spec: Optional[dict] = None  # the service document to write (None: nothing to write)
    changes: list = field(default_factory=list)
    writes: list = field(default_factory=list)   # writes.* in the order they are made
    expect: Union[Expectation, Paused, Done, None] = None
    managed: list = field(default_factory=list)   # fields the catalog sets, for the record
    # A rollout judged by analysis in steps (canary.first_write): the first batch, and how
    # the first write differs from `spec` (the second writes `spec` as it is).
    batch: Optional[int] = None
    canary: list = field(default_factory=list)
    then: list = field(default_factory=list)      # writes after the canary window passed
    notes: list = field(default_factory=list)     # said when it is carried out (reused objects)
    remarks: list = field(default_factory=list)   # said by a dry run too (names kept as written)
    job: str = ""     # a job service: whether and why it runs (job_plan.py), said as a note

    def summary(self):
        """JSON-ready plan for `--dry-run --json`."""
        out = {"action": self.action.value, "changes": [c.summary() for c in self.changes]}
        made = [w.wanted.summary() for w in self.writes if isinstance(w, CreateObject)]
        if made:
            out["objects"] = made
        networks = [w.summary() for w in self.writes if isinstance(w, CreateNetwork)]
        if networks:
            out["networks"] = networks
        if self.remarks:
            out["remarks"] = list(self.remarks)
        if self.job:
            out["job"] = self.job
        if self.batch is not None:
            out["first_write"] = {"first_batch": self.batch,
                                  "changes": [c.summary() for c in self.canary]}
        return out

    def lines(self, name, image):
        """The console lines of a dry run: every write, field by field."""
        verb = {Action.CREATE: f"create service {name} with {image}:",
                Action.UPDATE: f"update service {name}:"}.get(self.action,
                                                              f"service {name}: no change")
        lines = list(self.remarks)
        lines += [f"create network {w.name}: {describe(w.spec)}"
                  for w in self.writes if isinstance(w, CreateNetwork)]
        lines += [f"create config {KEY_CONFIG} (the key of secret names)"
                  for w in self.writes if isinstance(w, CreateNamingKey)]
        lines += [f"create {w.wanted.kind} {w.wanted.name} for {w.wanted.source!r} from "
                  f"{w.wanted.origin}" for w in self.writes if isinstance(w, CreateObject)]
        lines += [verb] + ["  " + c.line() for c in self.changes]
        if self.job:
            lines.append(self.job)
        if self.batch is not None:
            lines += [f"analysis: written first with a first batch of {self.batch} and a hold "
                      "for the canary window:"]
            lines += ["  " + c.line() for c in self.canary]
            lines += ["analysis: once the canary passed, written again with the update "
                      "policy above (the rest)"]
        return lines

    @property
    def new_template(self):
        """True when the writes start tasks of a new template (a create, or an update swarm
        rolls out): what a deploy's analysis judges. Never a job's run: it serves nothing."""
        if isinstance(self.expect, Expectation) and self.expect.follow is Follow.JOB:
            return False
        return self.action is Action.CREATE or (
            self.action is Action.UPDATE and self.expect.follow is Follow.UPDATE)


def path_text(path):
    """("Labels", "team") -> "Labels[team]"; label and option maps show their key in brackets."""
    text = ""
    for i, part in enumerate(path):
        if i and path[i - 1] in ("Labels", "Options", "Sysctls", "DriverOpts"):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _show(path, value):
    if value is None:
        return "(none)"
    if path and path[-1] in DURATION_KEYS and isinstance(value, int):
        return f"{value / 1e9:g}s"
    return repr(value)


def get(doc, path):
    """The value at `path` in `doc` (None where any part is missing)."""
    node = doc
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def put(doc, path, value):
    """Set `path` in `doc` to a copy of `value`, making the maps on the way."""
    node = doc
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = copy.deepcopy(value)


def delete(doc, path):
    """Remove `path` from `doc`, and the maps it leaves empty."""
    parents = []
    node = doc
    for part in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return
        parents.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, part in reversed(parents):
        if parent[part]:
            break
        del parent[part]


def normal(value):
    """The engine omits zero values (0, false, "", empty lists and maps) from what it stores:
    absent and zero compare alike."""
    if value in (None, [], {}, "", False) or (isinstance(value, (int, float))
                                              and not isinstance(value, bool) and value == 0):
        return None
    if isinstance(value, dict):
        kept = {k: normal(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None} or None
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def _volatile(path):
    return len(path) == 2 and path[0] == "Labels" and path[1] in VOLATILE_LABELS


def _dropped_by(path, fields):
    """True when a create default at `path` is of another shape than a field asked for."""
    for parent, shapes in ONE_OF.items():
        n = len(parent)
        if tuple(path[:n]) != parent or len(path) <= n:
            continue
        asked = {p[n] for p in fields if tuple(p[:n]) == parent and len(p) > n}
        if asked and path[n] not in asked and path[n] in shapes:
            return True
    return False


def mode_of(spec):
    """A service spec's mode: replicated (also for no Mode: the engine's default), global,
    replicated-job or global-job."""
    mode = (spec or {}).get("Mode") or {}
    for key, text in (("Global", "global"), ("ReplicatedJob", "replicated-job"),
                      ("GlobalJob", "global-job")):
        if key in mode:
            return text
    return "replicated"


def check_mode(name, current, mode, key="deploy.mode"):
    """UsageError (about `key`) when `mode` (replicated, global, replicated-job, global-job,
    or None: not asked) is not the mode of `current` (the service as the Engine returns it,
    or None): the engine refuses to change a service's mode, so a deploy must not try, nor
    create anything for it first."""
    if current is None or mode is None:
        return
    have = mode_of(current["Spec"])
    if have != mode:
        raise UsageError(f"service {name} runs in {have} mode and the engine cannot change a "
                         f"service's mode to {mode}", key=key,
                         hint=f"set deploy.mode: {have}" + _no_replicas(have)
                              + ", or remove the service and deploy it again")


def _no_replicas(mode):
    return " and no deploy.replicas" if mode in ("global", "global-job") else ""


def same_environment(have, want):
    """True when two Env lists give a process the same environment in another order: the
    same NAME=VALUE entries, each name once (with a name twice, the last one wins, so the
    order matters). A service made with `docker service create --env B=2 --env A=1` keeps its
    order, and a catalog that sorts it (as stack deploy does) must not restart its tasks."""
    if not isinstance(have, list) or not isinstance(want, list):
        return False
    names = [str(entry).partition("=")[0] for entry in want]
    return len(set(names)) == len(names) and sorted(map(str, have)) == sorted(map(str, want))


def _followers(have, fields):
    """The FOLLOWS fields that go back to their default because their leader changes."""
    return [follower for follower, leader in FOLLOWS.items()
            if leader in fields and follower not in fields
            and normal(get(have, leader)) != normal(fields[leader])]


def create_spec(name, fields, defaults):
    """The spec of a new service: `defaults` (shipway's and the stack file's implied values)
    under the fields asked for."""
    spec = {"Name": name}
    for path, value in defaults.items():
        if path not in fields and not _dropped_by(path, fields):
            put(spec, path, value)
    for path, value in fields.items():
        if value is not None:
            put(spec, path, value)
    return spec


def plan_deploy(name, current, fields, *, defaults=None, managed=None, last_managed=(),
                mode=None):
    """The plan to make service `name` have `fields`.

    current: the service as the Engine returns it, or None. fields: {path: value}, the image,
    shipway's labels and whatever the catalog and flags set. defaults: {path: value} used only
    when creating. managed: the paths among `fields` that the catalog sets (recorded with the
    release), or None for a deploy without a catalog: then nothing goes back to its default (a
    deploy with flags alone must not undo the catalog's settings) and the record carries
    `last_managed`, the paths the running release's deploy took from the catalog, on.
    mode: the mode the keys ask for (replicated, global) or None; a service in another mode is
    refused (check_mode), as is a plan that would change the mode of the service.
    """
    check_mode(name, current, mode)
    last = sorted({tuple(p) for p in last_managed})
    if managed is None:
        kept, removed = last, []
    else:
        kept = sorted({tuple(p) for p in managed})
        # A path a field sets whole (itself or one over it) is not going back to a default.
        # One over fields is cleared first and the fields are written into it: the catalog
        # that said `healthcheck: {disable: true}` and now says `{interval: 5s}` asks for
        # a health check with that interval, not a disabled one.
        removed = [p for p in last if not any(p[:len(f)] == f for f in fields)]
    if current is None:
        spec = create_spec(name, fields, defaults or {})
        # What a create writes: the fields, and the defaults under them (shipway's start-first,
        # dnsrr, ...), so that a dry run shows every value the new service gets.
        written = {p: v for p, v in fields.items() if v is not None and not _volatile(p)}
        paths = set(fields) | set(defaults or {})
        written.update({p: get(spec, p) for p in defaults or {} if p != ("Name",)
                        and p not in fields and normal(get(spec, p)) is not None
                        and not any(len(q) > len(p) and q[:len(p)] == p for q in paths)})
        changes = [Change(p, None, v) for p, v in sorted(written.items())]
        write = CreateService(spec, doing=f"creating service {name} with {fields.get(IMAGE)}")
        return Plan(Action.CREATE, spec, changes, [write],
                    Expectation(fields.get(IMAGE), Follow.TASKS), kept)
    have = current["Spec"]
    if ENV in fields and same_environment(get(have, ENV), fields[ENV]):
        fields = {**fields, ENV: get(have, ENV)}   # the same environment: kept as it is
    cleared = removed + [p for p in _followers(have, fields) if p not in removed]
    spec = copy.deepcopy(have)
    for path in cleared:
        delete(spec, path)
    for path, value in fields.items():
        if value is None:
            delete(spec, path)
        else:
            put(spec, path, value)
    changes = [Change(p, get(have, p), v) for p, v in sorted(fields.items())
               if not _volatile(p) and normal(get(have, p)) != normal(v)]
    # A cleared path shows what it becomes: (default), or what the fields under it make it.
    changes += [Change(p, get(have, p), get(spec, p)) for p in cleared
                if normal(get(have, p)) != normal(get(spec, p))]
    check_mode(name, current, mode_of(spec))   # e.g. `deploy.mode: global` no longer set
    return _update_or_not(name, current, spec, changes, fields.get(IMAGE), kept)


def _update_or_not(name, current, spec, changes, image, kept):
    """The plan of a service that exists: an update at the version read, or no write (and
    then a wait for an update in flight, or for the tasks; nothing after a pause)."""
    status = current.get("UpdateStatus") or {}
    state = status.get("State")
    if not changes:
        if state == "paused":
            return Plan(Action.UNCHANGED, None, [], [], Paused(status.get("Message", "")), kept)
        follow = Follow.UPDATE if state in IN_FLIGHT else Follow.TASKS
        return Plan(Action.UNCHANGED, None, [], [], Expectation(image, follow), kept)
    template = any(c.path[0] == "TaskTemplate" for c in changes)
    doing = f"updating service {name}: " + "; ".join(c.line() for c in changes)
    write = UpdateService(current["ID"], current["Version"]["Index"], spec, doing=doing)
    follow = Follow.UPDATE if template else Follow.TASKS
    return Plan(Action.UPDATE, spec, changes, [write],
                Expectation(image, follow, status.get("StartedAt")), kept)


def label_fields(labels):
    """{("Labels", key): value} for shipway's deploy labels; those this deploy does not set
    (no commit, no build URL) are None, so a stale one from an earlier deploy goes."""
    fields = {("Labels", LABEL_PREFIX + key): None
              for key in DEPLOY_LABELS + PROVENANCE_LABELS + ("release",)}
    fields[("Labels", HELD_LABEL)] = None   # a deploy after a held one releases no hold
    fields.update({("Labels", key): value for key, value in labels.items()})
    return fields
