"""The pure parts of figure 8 (bench/group.py): the release's shape, the catalog and the
stack file that say it for shipway and for `docker stack deploy`, what a run left running,
how its steps overlapped, and the summary. No engine here: tests/unit/bench checks these.

The release: a migration job, then a wave of two services, then a wave of two, each service
2 replicas of the health-checked example image. The same five services three times over,
one set per contestant:

- group:      catalog services `<prefix>-g-<member>`, `groups: <prefix>-g: steps: ...`
- stack:      the stack `<prefix>-s` (services `<prefix>-s_<member>`), its order in
              `depends_on`, which `docker stack deploy` ignores
- sequential: catalog services `<prefix>-q-<member>`, one `shipway deploy` each, in order
"""
import statistics

MEMBERS = ("migrate", "worker", "api", "web", "admin")
STEPS = (("migrate",), ("worker", "api"), ("web", "admin"))
JOB = "migrate"
BROKEN = "admin"          # the member of the last wave whose new image never gets healthy
REPLICAS = 2
JOB_ENV = {"LINES": "3", "SLEEP": "2"}   # a migration that prints 3 lines and takes 2 s
UPDATE = {"parallelism": 1, "delay": "0s", "order": "start-first",
          "failure_action": "rollback", "monitor": "2s", "max_failure_ratio": 0}
ROLLBACK = {"parallelism": 1, "delay": "0s", "order": "start-first",
            "failure_action": "pause", "monitor": "2s", "max_failure_ratio": 0}
# The example's probe (every 1 s, 1 s timeout, 2 retries) with a 3 s timeout and 3 retries:
# on this shared 2-core machine a probe can take over 1 s under load, and a task that fails
# for it makes swarm roll back a good release. The broken image still fails at once (404).
HEALTH = {"interval": "1s", "timeout": "3s", "retries": 3, "start_period": "1s"}
CONTESTANTS = ("group", "stack", "sequential")


def names(prefix):
    """The swarm service of each member for each contestant, the group's and the stack's
    names: {"group": {member: service}, "stack": ..., "sequential": ..., "group_name",
    "stack_name"}."""
    stack = f"{prefix}-s"
    return {"group": {m: f"{prefix}-g-{m}" for m in MEMBERS},
            "sequential": {m: f"{prefix}-q-{m}" for m in MEMBERS},
            "stack": {m: f"{stack}_{m}" for m in MEMBERS},
            "group_name": f"{prefix}-g", "stack_name": stack}


def _flow(mapping):
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


def _env(indent):
    return f"{indent}environment: {_flow({k: repr(v) for k, v in JOB_ENV.items()})}\n"


def _catalog_entry(service, member, repo, job_repo, network):
    if member == JOB:
        return (f"  {service}:\n    image: {job_repo}\n    networks: [{network}]\n"
                f"    stop_grace_period: 1s\n{_env('    ')}"
                "    deploy: {mode: replicated-job, endpoint_mode: vip, timeout: 120s, "
                "with_registry_auth: true, restart_policy: {condition: none}}\n")
    return (f"  {service}:\n    image: {repo}\n    networks: [{network}]\n"
            f"    healthcheck: {_flow(HEALTH)}\n"
            f"    stop_grace_period: 1s\n    deploy:\n      replicas: {REPLICAS}\n"
            f"      endpoint_mode: vip\n      timeout: 120s\n      with_registry_auth: true\n"
            f"      update_config: {_flow(UPDATE)}\n      rollback_config: {_flow(ROLLBACK)}\n")


def _steps_text(services):
    parts = []
    for step in STEPS:
        listed = [services[m] for m in step]
        parts.append(listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]")
    return "[" + ", ".join(parts) + "]"


def catalog_text(prefix, repo, job_repo, network):
    """The catalog: `hello` (the example, built and pushed with shipway's stages, never
    deployed), the group's five services and its `groups:` entry, the sequential five."""
    n = names(prefix)
    text = ("version: 1\nservices:\n"
            f"  hello:\n    image: {repo}\n    build: make\n    workdir: hello\n")
    for contestant in ("group", "sequential"):
        for member in MEMBERS:
            text += _catalog_entry(n[contestant][member], member, repo, job_repo, network)
    return text + (f"groups:\n  {n['group_name']}:\n    steps: {_steps_text(n['group'])}\n"
                   "    on_failure: rollback\n")


def depends_on():
    """member -> the members it depends on: every member of the step before."""
    out = {}
    for index, step in enumerate(STEPS):
        for member in step:
            out[member] = list(STEPS[index - 1]) if index else []
    return out


def stack_text(images, network):
    """The stack file of one release (`images`: member -> pinned reference): the same
    services, their order in `depends_on`."""
    needs = depends_on()
    text = 'version: "3.9"\nservices:\n'
    for member in MEMBERS:
        text += f"  {member}:\n    image: {images[member]}\n    networks: [{network}]\n"
        if needs[member]:
            text += f"    depends_on: [{', '.join(needs[member])}]\n"
        text += "    stop_grace_period: 1s\n"
        if member == JOB:
            text += _env("    ") + ("    deploy: {mode: replicated-job, endpoint_mode: vip, "
                                     "restart_policy: {condition: none}}\n")
            continue
        text += (f"    healthcheck: {_flow(HEALTH)}\n"
                 f"    deploy:\n      replicas: {REPLICAS}\n      endpoint_mode: vip\n"
                 f"      update_config: {_flow(UPDATE)}\n"
                 f"      rollback_config: {_flow(ROLLBACK)}\n")
    return text + f"networks:\n  {network}: {{external: true}}\n"


def release(hello, job, broken=None):
    """member -> reference of one release: `job` for the job, `hello` for the services,
    `broken` for BROKEN when given (the failing release)."""
    out = {m: hello for m in MEMBERS}
    out[JOB] = job
    if broken:
        out[BROKEN] = broken
    return out


def digest(reference):
    return reference.rpartition("@")[2]


def state_of(running, old, new):
    """What a member runs, from the digests of its running tasks: "new", "old", "mixed"
    (both, or another), "none" (no task runs)."""
    found = set(running)
    if not found:
        return "none"
    if found == {digest(new)}:
        return "new"
    if found == {digest(old)}:
        return "old"
    return "mixed"


def states(running, old, new, members=MEMBERS):
    """member -> state_of, for the services (the job is left out: it runs nothing after
    its run, and a job's run is never undone)."""
    return {m: state_of(running[m], old[m], new[m]) for m in members if m != JOB}


def step_gaps(times):
    """Per step after the first: its first member's start minus the last finish of the step
    before (`times`: member -> {"start": s, "done": s} relative to the run's start; done is
    the job's completion or the last new task running healthy). Negative: the step started
    before the one before had finished, i.e. no order was kept."""
    gaps = []
    for before, step in zip(STEPS, STEPS[1:]):
        done = [times[m]["done"] for m in before if times.get(m, {}).get("done") is not None]
        start = [times[m]["start"] for m in step if times.get(m, {}).get("start") is not None]
        gaps.append(round(min(start) - max(done), 3) if done and start else None)
    return gaps


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def _ratios(a, b):
    return [x / y for x, y in zip(a, b) if x is not None and y]


def _value(run, key):
    return None if run.get("disturbed") else run.get(key)


def summary(runs, key="seconds"):
    """{contestant: {median_s, runs_s, disturbed}, "group_vs_<other>": {median_ratio,
    ratio_of_medians}} over the rounds (`runs`: contestant -> [run dicts], round i of each
    ran back to back). A disturbed run counts for nothing: None in runs_s, no ratio."""
    out = {}
    for contestant, listed in runs.items():
        values = [_value(r, key) for r in listed]
        out[contestant] = {"median_s": _median(values),
                           "runs_s": [None if v is None else round(v, 3) for v in values],
                           "disturbed": sum(1 for r in listed if r.get("disturbed"))}
    group = [_value(r, key) for r in runs.get("group", [])]
    for other in (c for c in runs if c != "group"):
        theirs = [_value(r, key) for r in runs[other]]
        ratios = _ratios(group, theirs)
        out[f"group_vs_{other}"] = {
            "median_ratio": round(statistics.median(ratios), 3) if ratios else None,
            "ratio_of_medians": (round(_median(group) / _median(theirs), 3)
                                 if _median(group) and _median(theirs) else None)}
    return out


def order(round_index):
    """The contestants' order in round `round_index`: rotated every round, so that each
    runs first, second and third equally often over three rounds."""
    shift = round_index % len(CONTESTANTS)
    return CONTESTANTS[shift:] + CONTESTANTS[:shift]


def comparable(spec):
    """The parts of an Engine ServiceSpec that make two contestants' members do the same
    work (name, labels and image aside): mode, update and rollback configs, restart policy,
    health check, stop grace period, environment, networks, endpoint mode."""
    task = spec.get("TaskTemplate") or {}
    container = task.get("ContainerSpec") or {}
    return {
        "Mode": spec.get("Mode"),
        "UpdateConfig": spec.get("UpdateConfig"),
        "RollbackConfig": spec.get("RollbackConfig"),
        "RestartPolicy": task.get("RestartPolicy"),
        "StopGracePeriod": container.get("StopGracePeriod"),
        "Healthcheck": container.get("Healthcheck"),
        "Env": sorted(container.get("Env") or []),
        "Networks": sorted(n.get("Target", "") for n in task.get("Networks") or []),
        "EndpointMode": (spec.get("EndpointSpec") or {}).get("Mode", "vip"),
    }


def differences(specs):
    """{member: {field: {contestant: value}}} where the contestants' members differ
    (`specs`: contestant -> member -> Engine ServiceSpec); {} when they do the same work."""
    out = {}
    for member in MEMBERS:
        seen = {c: comparable(by_member[member]) for c, by_member in specs.items()}
        fields = {}
        for key in next(iter(seen.values())):
            values = {c: fields_of[key] for c, fields_of in seen.items()}
            if len({repr(v) for v in values.values()}) > 1:
                fields[key] = values
        if fields:
            out[member] = fields
    return out


def flipped(current, one, two):
    """The next release's service images: per member, `two` where it runs `one`, else
    `one` (every member gets a new image, even after a run that left them apart)."""
    return {m: two if ref == one else one for m, ref in current.items() if m != JOB}


def expected_after_failure(contestant):
    """What each service runs after the failing release, by design: the group puts every
    member back; stack deploy and the script leave the earlier ones on the new release and
    swarm rolls back only the broken member."""
    if contestant == "group":
        return {m: "old" for m in MEMBERS if m != JOB}
    return {m: "old" if m == BROKEN else "new" for m in MEMBERS if m != JOB}


def disturbed(kind, contestant, codes, settled):
    """Why a run did not go as designed (the machine, not the contestant: a task the engine
    could not start under load, a health check timing out), or None. Such a run is kept in
    the record and left out of the medians. `kind`: "update" or "failure"."""
    if kind == "update":
        if any(codes) or set(settled.values()) != {"new"}:
            return f"exit {codes}, left {settled}"
        return None
    expected = expected_after_failure(contestant)
    if settled != expected:
        return f"left {settled}, by design {expected}"
    if contestant == "group" and codes != [1]:
        return f"exit {codes}"
    if contestant == "sequential" and codes != [0] * (len(MEMBERS) - 1) + [1]:
        return f"exit {codes}"
    return None
