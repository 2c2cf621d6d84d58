"""A normalised compose service (pipeline/catalog/compose_keys.normalise) as Engine
ServiceSpec fields.

The catalog checks the keys and brings them to one shape; what they become in an Engine
ServiceSpec is swarm knowledge, kept here with the code that plans and writes those specs
(plan.py, apply.py): a change to the Engine's spec touches pipeline/swarm/ only.

`convert` says, path by path, what the keys that were given set in the raw Engine API
ServiceSpec (as `docker service inspect` shows it), in the engine's units and shapes, following
what `docker stack deploy` (docker/cli 20.10 cli/compose/convert) sends for the same keys:
entrypoint -> ContainerSpec.Command, command -> Args, the short service name an alias on every
user-defined network, lists sorted as stack deploy sorts them. Pure: it reads env_file files
and the given environment, never the engine.

What stack deploy adds beyond the keys (tests/integration/test_stack_parity.py shows each on
the lab): the image pinned to `repo:tag@digest` and Placement.Platforms from the registry
(--resolve-image; `platforms` here); the short service name as an alias on each user-defined
network; com.docker.stack.namespace on the service and container labels and
com.docker.stack.image on the service (shipway leaves them out); `<stack>_`-prefixed names of
the networks, volumes, secrets and configs it creates; and, always, empty Privileges, Resources,
Placement and EndpointSpec, which the engine keeps (Privileges as two nulls, EndpointSpec as
Mode vip). Given a policy without parallelism it sends parallelism 1; the engine fills the rest
of a given policy (failure action pause, order stop-first) whoever sends it.
"""
import decimal
import os
from dataclasses import dataclass

from pipeline.catalog.compose_file import is_absolute
from pipeline.catalog.env_file import read_env_file
from pipeline.catalog.values import size
from pipeline.swarm import stack
from pipeline.units import to_nanos

CS = ("TaskTemplate", "ContainerSpec")
# Networks every node has, which take no aliases (docker's NetworkMode.IsUserDefined).
_BUILTIN_NETWORKS = ("default", "bridge", "host", "none")


@dataclass
class Conversion:
    """`fields`: path -> value for what the given keys set (applied on create and update).
    `implied`: path -> value stack deploy also sends on create (a default under a given key,
    the name, the platforms, empty parents); no implied path is a field's or under one.
    `mode`: what `deploy.mode` (or `deploy.replicas`, which means replicated) asks for: a
    service's mode is not a field a deploy can change (plan.check_mode)."""

    fields: dict
    implied: dict
    mode: str = None   # the mode the keys ask for (deploy.mode's), None when they ask none

    def create_spec(self):
        """The ServiceSpec to create: implied, then fields over it."""
        return build({**self.implied, **self.fields})


def build(paths):
    """A nested document from {path tuple: value}."""
    doc = {}
    for path, value in paths.items():
        node = doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return doc


def network_names(service, definitions, namespace=None):
    """{network key in the service: the engine's network name} (stack.network_names)."""
    return stack.network_names(service, definitions, namespace)


def convert(service, *, name, alias, network_ids, secret_refs, config_refs, base_dir,
            definitions=None, environ=None, platforms=None, namespace=None):
    """The Conversion of normalised compose `service` for the swarm service `name`.

    `alias`: the short name (a network alias, as stack deploy adds); `network_ids`: {network key
    as the service names it: network id}; `secret_refs`/`config_refs`: {compose source name:
    {"Name": swarm object name, "ID": id}}; `base_dir`: what relative env_file and bind paths
    are relative to; `definitions`: the top-level secrets/configs/networks/volumes (names of
    networks and volumes); `environ`: where `KEY` with no value takes its value (default
    os.environ); `platforms`: the image's platforms as the registry lists them, which stack
    deploy with --resolve-image sets at Placement.Platforms (left out when None);
    `namespace`: the stack the service is deployed in (stack.namespace), which names its
    volumes and the networks the file defines, or None.
    """
    environ = os.environ if environ is None else environ
    definitions = definitions or {}
    fields, implied = {}, {("Name",): name}
    put = fields.__setitem__
    _container(service, put, base_dir, environ, definitions, namespace)
    for kind, refs, ident in (("secrets", secret_refs, "Secret"),
                              ("configs", config_refs, "Config")):
        if kind in service:
            put(CS + (kind.capitalize(),), _references(service[kind], refs, ident))
    if "networks" in service:
        joined = stack.attached(service, definitions, namespace)
        # A stack file's service joins the stack's default network; with no stack to name it
        # in, it joins none, and its networks stay as they are.
        if joined or not service["networks"]:
            put(("TaskTemplate", "Networks"),
                _networks(service, alias, network_ids, definitions, namespace))
    if "ports" in service:
        ports = [_pruned({"Protocol": p["protocol"], "TargetPort": p["target"],
                          "PublishedPort": p.get("published", 0), "PublishMode": p["mode"]})
                 for p in service["ports"]]
        put(("EndpointSpec", "Ports"), sorted(ports, key=lambda p: p.get("PublishedPort", 0)))
    _deploy(service.get("deploy", {}), put, implied)
    if platforms:
        implied[("TaskTemplate", "Placement", "Platforms")] = platforms
    # stack deploy always sends these (empty); the engine keeps them as sent (an empty
    # EndpointSpec becomes {"Mode": "vip"}). Only where no field goes under them, so that
    # implied and fields never overlap.
    for parent in (CS + ("Privileges",), ("TaskTemplate", "Resources"),
                   ("TaskTemplate", "Placement"), ("EndpointSpec",)):
        if not any(path[:len(parent)] == parent for path in (*fields, *implied)):
            implied[parent] = {}
    return Conversion(fields, implied, asked_mode(service))


def _container(service, put, base_dir, environ, definitions, namespace):
    """The ContainerSpec fields (and the task's log driver) of the keys that set them, but
    secrets and configs."""
    simple = {"image": "Image", "user": "User", "working_dir": "Dir", "hostname": "Hostname",
              "init": "Init", "read_only": "ReadOnly", "tty": "TTY", "stdin_open": "OpenStdin",
              "stop_signal": "StopSignal", "entrypoint": "Command", "command": "Args",
              "sysctls": "Sysctls", "isolation": "Isolation"}
    for key, field in simple.items():
        if key in service:
            put(CS + (field,), service[key])
    if "stop_grace_period" in service:
        put(CS + ("StopGracePeriod",), to_nanos(service["stop_grace_period"]))
    if "environment" in service or "env_file" in service:
        put(CS + ("Env",), environment(service, base_dir, environ))
    for key, value in service.get("labels", {}).items():
        put(CS + ("Labels", key), value)
    if "extra_hosts" in service:
        # SwarmKit's notation: "IP host", in the order given.
        put(CS + ("Hosts",), [" ".join(reversed(h.split(":", 1))) for h in service["extra_hosts"]])
    if "dns" in service:
        put(CS + ("DNSConfig", "Nameservers"), service["dns"])
    if "dns_search" in service:
        put(CS + ("DNSConfig", "Search"), service["dns_search"])
    _capabilities(service, put)
    if "ulimits" in service:
        put(CS + ("Ulimits",), [{"Name": n, "Soft": u["soft"], "Hard": u["hard"]}
                                for n, u in sorted(service["ulimits"].items())])
    # The driver and its options are two fields: options alone keep the service's driver; a
    # new driver without options drops the old driver's (plan.FOLLOWS).
    for key, field in (("driver", "Name"), ("options", "Options")):
        if key in service.get("logging", {}):
            put(("TaskTemplate", "LogDriver", field), service["logging"][key])
    _healthcheck(service.get("healthcheck"), put)
    if "volumes" in service or "tmpfs" in service:
        put(CS + ("Mounts",), mounts(service, base_dir, definitions.get("volumes", {}), environ,
                                     namespace))


def asked_mode(service):
    """The mode a normalised service's keys ask for: `deploy.mode`, else replicated where
    `deploy.replicas` is given (the stack file's default mode), else None."""
    deploy = service.get("deploy", {})
    return deploy.get("mode") or ("replicated" if "replicas" in deploy else None)


def environment(service, base_dir, environ):
    """Env as stack deploy sends it: env_file lines, then `environment` over them; a name with
    no (or an empty) value takes the value from `environ` if it is there; sorted."""
    values = {}
    for path in service.get("env_file", []):
        values.update(read_env_file(os.path.join(base_dir, path), environ))
    values.update(service.get("environment", {}))
    out = []
    for key, value in values.items():
        if not value and key in environ:
            value = environ[key]
        out.append(key if value is None else f"{key}={value}")
    return sorted(out)


def _capabilities(service, put):
    # docker's EffectiveCapAddCapDrop: CAP_-prefixed upper case, ALL trumps the rest, an added
    # capability is not dropped, both sorted.
    def normal(caps):
        out = set()
        for cap in caps:
            cap = cap.strip().upper()
            out.add(cap if cap in ("ALL", "RESET") or cap.startswith("CAP_") else "CAP_" + cap)
        return {"ALL"} if "ALL" in out else out
    add, drop = normal(service.get("cap_add", [])), normal(service.get("cap_drop", []))
    if "cap_add" in service:
        put(CS + ("CapabilityAdd",), sorted(add - {"RESET"}))
    if "cap_drop" in service:
        put(CS + ("CapabilityDrop",), sorted(drop - add - {"RESET"}))


def _healthcheck(health, put):
    if health is None:
        return
    path = CS + ("Healthcheck",)
    if health.get("disable"):
        put(path, {"Test": ["NONE"]})
        return
    if "test" in health:
        put(path + ("Test",), health["test"])
    for key, field in (("interval", "Interval"), ("timeout", "Timeout"),
                       ("start_period", "StartPeriod")):
        if key in health:
            put(path + (field,), to_nanos(health[key]))
    if "retries" in health:
        put(path + ("Retries",), health["retries"])


def mounts(service, base_dir, volumes, environ, namespace=None):
    """ContainerSpec.Mounts for `volumes` (and the catalog's `tmpfs` list after them); named
    volumes in `namespace` (stack.scoped), labelled with it as stack deploy labels them."""
    out = []
    for volume in service.get("volumes", []):
        mount = {"Type": volume["type"], "Target": volume["target"],
                 "ReadOnly": volume.get("read_only", False),
                 "Consistency": volume.get("consistency", "")}
        source = volume.get("source", "")
        if volume["type"] in ("bind", "npipe"):
            mount["Source"] = bind_source(source, base_dir, environ) \
                if volume["type"] == "bind" else source
            if "bind" in volume:
                mount["BindOptions"] = {"Propagation": volume["bind"]["propagation"]}
        elif volume["type"] == "volume" and source:
            defined = volumes.get(source, {})
            mount["Source"] = stack.scoped(namespace, source, defined)
            mount["VolumeOptions"] = _volume_options(volume, defined, namespace)
        elif volume["type"] == "tmpfs" and "tmpfs" in volume:
            mount["TmpfsOptions"] = _pruned({"SizeBytes": volume["tmpfs"].get("size", 0)})
        out.append(_pruned(mount, keep=("VolumeOptions",)))
    for target in service.get("tmpfs", []):
        path, _, options = target.partition(":")
        mount = {"Type": "tmpfs", "Target": path}
        for option in filter(None, options.split(",")):
            if option.startswith("size="):
                mount["TmpfsOptions"] = {"SizeBytes": size(option[5:])}
        out.append(mount)
    return out


def bind_source(source, base_dir, environ):
    """A bind mount's source as docker's loader makes it: `~` is $HOME; an absolute path as
    written (`/var/lib/docker/` keeps its slash: the engine compares it as text, and a
    service stack deploy made would restart); a relative one joined to `base_dir`, cleaned."""
    if source.startswith("~") and "HOME" in environ:
        source = environ["HOME"] + source[1:]
    if is_absolute(source):
        return source
    return os.path.normpath(os.path.join(base_dir, source))


def _volume_options(volume, defined, namespace):
    """A named volume's VolumeOptions: nocopy; for one not external, its labels (and the
    stack's namespace label) and its driver."""
    options = {"NoCopy": volume.get("volume", {}).get("nocopy", False)}
    if not defined.get("external"):
        options["Labels"] = {**(defined.get("labels") or {}), **stack.object_labels(namespace)}
        if "driver" in defined or "driver_opts" in defined:
            options["DriverConfig"] = _pruned({"Name": defined.get("driver", ""),
                                               "Options": defined.get("driver_opts")})
    return _pruned(options)


def _references(references, refs, ident):
    out = []
    for reference in references:
        obj = refs[reference["source"]]
        out.append({
            "File": {"Name": reference.get("target", reference["source"]),
                     "UID": reference.get("uid", "0"), "GID": reference.get("gid", "0"),
                     "Mode": reference.get("mode", 0o444)},
            f"{ident}ID": obj["ID"], f"{ident}Name": obj["Name"],
        })
    return sorted(out, key=lambda r: r[f"{ident}Name"])


def _networks(service, alias, network_ids, definitions, namespace):
    names = network_names(service, definitions, namespace)
    out = []
    for key, attach in stack.attached(service, definitions, namespace).items():
        aliases = list(attach.get("aliases", []))
        if names[key] not in _BUILTIN_NETWORKS and not names[key].startswith("container:"):
            aliases.append(alias)
        out.append((names[key], _pruned({"Target": network_ids[key], "Aliases": aliases})))
    # stack deploy sorts by the network's name (the engine then stores its id in that order)
    return [attachment for _, attachment in sorted(out, key=lambda pair: pair[0])]


def _deploy(deploy, put, implied):
    for key, value in deploy.get("labels", {}).items():
        put(("Labels", key), value)
    _mode(deploy, put, implied)
    if "endpoint_mode" in deploy:
        put(("EndpointSpec", "Mode"), deploy["endpoint_mode"])
    placement = deploy.get("placement", {})
    where = ("TaskTemplate", "Placement")
    if "constraints" in placement:
        put(where + ("Constraints",), placement["constraints"])
    if "preferences" in placement:
        put(where + ("Preferences",), [{"Spread": {"SpreadDescriptor": p["spread"]}}
                                       for p in placement["preferences"]])
    if "max_replicas_per_node" in placement:
        put(where + ("MaxReplicas",), placement["max_replicas_per_node"])
    _resources(deploy.get("resources", {}), put)
    restart = deploy.get("restart_policy", {})
    for key, field in (("condition", "Condition"), ("max_attempts", "MaxAttempts")):
        if key in restart:
            put(("TaskTemplate", "RestartPolicy", field), restart[key])
    for key, field in (("delay", "Delay"), ("window", "Window")):
        if key in restart:
            put(("TaskTemplate", "RestartPolicy", field), to_nanos(restart[key]))
    for kind, field in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
        if kind not in deploy:
            continue
        policy = deploy[kind]
        if "parallelism" not in policy:
            # stack deploy sends parallelism 1 when a policy is given without it
            implied[(field, "Parallelism")] = 1
        for key, name in (("parallelism", "Parallelism"), ("failure_action", "FailureAction"),
                          ("max_failure_ratio", "MaxFailureRatio"), ("order", "Order")):
            if key in policy:
                put((field, name), policy[key])
        for key, name in (("delay", "Delay"), ("monitor", "Monitor")):
            if key in policy:
                put((field, name), to_nanos(policy[key]))


def _mode(deploy, put, implied):
    """Mode, as stack deploy converts it. `mode: replicated` without `replicas` sets no
    field: an adopted service keeps its scale and a new one gets the engine's (and
    shipway's) default of 1, as stack deploy's nil Replicas does; a replicated job's
    `replicas` is both its TotalCompletions and its MaxConcurrent, and without it, a new
    job gets the engine's 1 and 1 (an adopted one keeps its own)."""
    mode = deploy.get("mode")
    if mode in ("global", "global-job"):
        put(("Mode", "Global" if mode == "global" else "GlobalJob"), {})
    elif mode == "replicated-job":
        if "replicas" in deploy:
            for key in ("MaxConcurrent", "TotalCompletions"):
                put(("Mode", "ReplicatedJob", key), deploy["replicas"])
        else:
            implied[("Mode", "ReplicatedJob")] = {}
    elif "replicas" in deploy:
        put(("Mode", "Replicated", "Replicas"), deploy["replicas"])


def _resources(resources, put):
    for kind, field in (("limits", "Limits"), ("reservations", "Reservations")):
        given = resources.get(kind, {})
        where = ("TaskTemplate", "Resources", field)
        if "cpus" in given:   # exact nano-CPUs
            put(where + ("NanoCPUs",), int(decimal.Decimal(given["cpus"]) * 10 ** 9))
        if "memory" in given:
            put(where + ("MemoryBytes",), given["memory"])
        if "pids" in given:
            put(where + ("Pids",), given["pids"])
        if "generic_resources" in given:
            specs = [r["discrete_resource_spec"] for r in given["generic_resources"]]
            put(where + ("GenericResources",), [
                {"DiscreteResourceSpec": _pruned({"Kind": d.get("kind"), "Value": d.get("value")})}
                for d in specs])


def _pruned(doc, keep=()):
    """`doc` without the zero values the engine leaves out of what it returns."""
    return {k: v for k, v in doc.items() if k in keep or v not in (None, "", 0, False, [], {})}
