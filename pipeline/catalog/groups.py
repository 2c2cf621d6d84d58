"""`groups:`, releases of several services together: steps in order (a step of several
services is a wave, deployed in parallel), or every service of a stack file with its
`depends_on` as the order.

    groups:
      shop:
        steps:
          - migrate               # a job service (deploy.mode: replicated-job), or {job: migrate}
          - [worker, api]         # a wave: deployed in parallel, all must converge
          - web
        on_failure: rollback      # default; or stop
      shop-stack:
        compose: {file: docker-stack.yml, stack: shop}

A bad group is one line naming the group and the step (exit 2).
"""
import os
from dataclasses import dataclass, field
from typing import Optional

from pipeline.catalog.compose_keys import JOB_MODES
from pipeline.catalog.keys import JENKINS_SCHEMA, SERVICE_NAME, SERVICE_NAME_RULE
from pipeline.catalog.schema import walk
from pipeline.catalog.values import choice


@dataclass(frozen=True)
class Step:
    """One step of a group: its services (one, or a wave of several)."""

    services: tuple
    job: bool = False          # written {job: NAME}: the service must be a job

    def label(self, index):
        """`step 2 (worker, api)`: how a line names it."""
        return f"step {index + 1} ({', '.join(self.services)})"


@dataclass(frozen=True)
class Group:
    """A group release: its steps in order, what a failing step does, where it comes from."""

    name: str
    steps: tuple
    on_failure: str = "rollback"
    stack: Optional[str] = None          # the stack namespace of a stack file's group
    stack_file: Optional[str] = None
    jenkins: dict = field(default_factory=dict)

    @property
    def members(self):
        """Every catalog service of the group, in step order."""
        return [name for step in self.steps for name in step.services]


def _stack_ref(value):
    if not isinstance(value, dict) or set(value) != {"file", "stack"} \
            or not all(isinstance(v, str) and v for v in value.values()):
        raise ValueError("must be {file: STACK-FILE, stack: NAME}")
    if not SERVICE_NAME.match(value["stack"]):
        raise ValueError(f"stack: {SERVICE_NAME_RULE}")
    return dict(value)


GROUP_SCHEMA = {
    "steps": lambda value: value,          # checked by _steps, which names the step
    "on_failure": choice("rollback", "stop"),
    "compose": _stack_ref,
    "jenkins": JENKINS_SCHEMA,
}


def read(raw, fail):
    """The catalog's `groups:` checked for their shape: name -> (keys, raw steps).
    `fail(key, message)` raises. Steps are checked against the services by `steps`."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        fail("groups", "must be a mapping of group names to their steps")
    out = {}
    for name, entry in raw.items():
        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            fail(f"groups.{name}", f"group names: {SERVICE_NAME_RULE}")
        keys = walk(GROUP_SCHEMA, entry if entry is not None else {}, fail, f"groups.{name}.")
        if ("steps" in keys) == ("compose" in keys):
            fail(f"groups.{name}", "needs `steps` (catalog services in order) or `compose` "
                 "(every service of a stack file), one of the two")
        out[name] = keys
    return out


def steps(name, raw_steps, services, fail):
    """The steps of group `name` from its `steps:` list, checked against `services` (the
    catalog's resolved settings by name): an unknown service, a service in two steps, a job
    step whose service is not a job are one line naming the group and the step."""
    if not isinstance(raw_steps, list) or not raw_steps:
        fail(f"groups.{name}.steps", "must be a list of services or waves ([a, b])")
    seen, out = {}, []
    for index, raw in enumerate(raw_steps):
        key = f"groups.{name}.steps[{index}]"
        job = isinstance(raw, dict)
        if job and (set(raw) != {"job"} or not isinstance(raw["job"], str)):
            fail(key, "a job step is {job: SERVICE}")
        members = [raw["job"]] if job else raw if isinstance(raw, list) else [raw]
        if not members or not all(isinstance(m, str) for m in members):
            fail(key, "must be a service name, a list of them (a wave), or {job: SERVICE}")
        for member in members:
            if member not in services:
                known = ", ".join(sorted(services))
                fail(key, f"no service {member!r} in the catalog (services: {known})")
            if member in seen:
                fail(key, f"{member!r} is in step {seen[member] + 1} already: a service "
                     "is released once per group release")
            seen[member] = index
            mode = ((services[member]["service"].get("deploy") or {}).get("mode"))
            if job and mode not in JOB_MODES:
                fail(key, f"{member!r} is not a job (its deploy.mode is "
                     f"{mode or 'replicated'}): give it deploy.mode: replicated-job, or "
                     "write the step as the service's name")
            if mode in JOB_MODES and len(members) > 1:
                fail(key, f"{member!r} is a job: a job is a step of its own, so that the "
                     "step after it starts on its completion")
        out.append(Step(tuple(members), job=job or any(
            (services[m]["service"].get("deploy") or {}).get("mode") in JOB_MODES
            for m in members)))
    return tuple(out)


def waves(name, depends, fail):
    """A stack file's services in waves by `depends_on` (`depends`: service -> the services
    it depends on): each wave depends only on earlier ones; a cycle or a dependency on a
    service the file does not have is one line naming the group."""
    for service, needs in depends.items():
        for need in needs:
            if need not in depends:
                fail(f"groups.{name}.compose", f"service {service!r} depends on {need!r}, "
                     "which the stack file does not have")
    done, out = set(), []
    while len(done) < len(depends):
        wave = [s for s, needs in depends.items() if s not in done and set(needs) <= done]
        if not wave:
            cycle = " -> ".join(_cycle({s: n for s, n in depends.items() if s not in done}))
            fail(f"groups.{name}.compose", f"depends_on has a cycle: {cycle}; remove one of "
                 "those dependencies")
        out.append(Step(tuple(wave)))
        done |= set(wave)
    return tuple(out)


def _cycle(depends):
    """One cycle of `depends` (every service in it depends on another left), as a path."""
    start = next(iter(depends))
    path = [start]
    while True:
        following = next(n for n in depends[path[-1]] if n in depends)
        if following in path:
            return path[path.index(following):] + [following]
        path.append(following)


def stack_file(base_dir, ref):
    """The stack file a group names, relative to the catalog."""
    return os.path.normpath(os.path.join(base_dir, ref["file"]))
