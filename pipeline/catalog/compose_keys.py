"""Stack-file (compose v3) service keys: checked and brought to one long form.

`normalise(service, fail)` takes the compose keys of one service, as a catalog entry or a stack
file writes them (short or long syntax), and returns them in one canonical shape that
pipeline/swarm/compose.py turns into Engine ServiceSpec fields: durations in seconds (float),
sizes in bytes, maps as dicts, lists as lists, every volume, port, secret and network in its
long form.
A bad value calls `fail(key, message)` (which raises) with the dotted key, e.g. `ports[1].mode`.
What each key means follows docker/cli's compose loader and convert (20.10).
"""
import re

from pipeline.catalog.schema import Part, walk
from pipeline.catalog.values import (
    boolean,
    choice,
    cpus,
    duration,
    file_mode,
    mapping,
    ratio,
    size,
    string_list,
    text,
    whole_number,
    words,
)

# A stack-file key given no value, as docker's compose loader says it.
NO_VALUE = "has no value"
# Compose keys a catalog entry or a stack file may set for a service (and `deploy.*` below).
SERVICE_KEYS = (
    "image", "command", "entrypoint", "environment", "env_file", "labels", "healthcheck",
    "user", "working_dir", "hostname", "extra_hosts", "dns", "dns_search", "init", "read_only",
    "tty", "stdin_open", "stop_signal", "stop_grace_period", "cap_add", "cap_drop", "sysctls",
    "ulimits", "logging", "tmpfs", "volumes", "secrets", "configs", "networks", "ports", "deploy",
    "isolation",
)
# deploy.mode as stack files say it: the last two run their tasks to completion (jobs)
MODES = ("replicated", "global", "replicated-job", "global-job")
JOB_MODES = ("replicated-job", "global-job")
DEPLOY_KEYS = ("mode", "replicas", "endpoint_mode", "labels", "placement", "resources",
               "restart_policy", "update_config", "rollback_config")
# shipway's own run options, kept under `deploy` next to the compose ones.
SHIPWAY_DEPLOY_KEYS = ("timeout", "with_registry_auth", "keep_releases", "analysis")

_PORT_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
_CONSISTENCY = ("consistent", "cached", "delegated", "default")


def _healthcheck_test(value):
    if isinstance(value, str):
        return ["CMD-SHELL", value]
    test = string_list(value)
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise ValueError("a list must start with NONE, CMD or CMD-SHELL (or give a string)")
    return test


UPDATE_KEYS = {
    "parallelism": whole_number(0), "delay": duration, "monitor": duration,
    "failure_action": choice("pause", "continue", "rollback"),
    "max_failure_ratio": ratio,
    "order": choice("start-first", "stop-first"),
}
# The engine takes (and keeps) `rollback` on a rollback policy too, and so does stack deploy.
ROLLBACK_KEYS = dict(UPDATE_KEYS)
def _retries(value):
    # the schema's `number`: stack deploy takes 3.5 and sends 3 (mapstructure truncates)
    if isinstance(value, float) and not isinstance(value, bool) and value >= 0 \
            and value == value and value != float("inf"):
        value = int(value)
    return whole_number(0)(value)


HEALTHCHECK_KEYS = {"test": _healthcheck_test, "interval": duration, "timeout": duration,
                    "retries": _retries, "start_period": duration, "disable": boolean}
def _generic_resources(value):
    # [{discrete_resource_spec: {kind: gpu, value: 2}}], as the compose schema has them
    if not isinstance(value, list):
        raise ValueError("must be a list of {discrete_resource_spec: {kind, value}}")
    out = []
    for item in value:
        spec = item.get("discrete_resource_spec") if isinstance(item, dict) else None
        if not isinstance(spec, dict) or set(item) != {"discrete_resource_spec"} \
                or set(spec) - {"kind", "value"} or not isinstance(spec.get("kind", ""), str) \
                or not isinstance(spec.get("value", 0), int) \
                or isinstance(spec.get("value"), bool):
            raise ValueError(f"items must be {{discrete_resource_spec: {{kind: NAME, "
                             f"value: N}}}} (got {item!r})")
        out.append({"discrete_resource_spec": dict(spec)})
    return out


RESOURCES_KEYS = {
    "limits": {"cpus": cpus, "memory": size, "pids": whole_number(0, 2 ** 63 - 1)},
    "reservations": {"cpus": cpus, "memory": size, "generic_resources": _generic_resources},
}
RESTART_KEYS = {"condition": choice("none", "on-failure", "any"), "delay": duration,
                "max_attempts": whole_number(0), "window": duration}
LOGGING_KEYS = {"driver": text, "options": mapping()}


def _ulimits(value, fail, key):
    if not isinstance(value, dict):
        fail(key, "must be a mapping of limit names to a number or {soft, hard}")
    out = {}
    for name, limit in value.items():
        where = f"{key}.{name}"
        if isinstance(limit, dict):
            limit = walk({"soft": whole_number(0, 2 ** 63 - 1),
                          "hard": whole_number(0, 2 ** 63 - 1)}, limit, fail, where + ".",
                         null=NO_VALUE)
            if set(limit) != {"soft", "hard"}:
                fail(where, "needs both soft and hard (or one number for both)")
            out[str(name)] = limit
        else:
            try:
                number = whole_number(0, 2 ** 63 - 1)(limit)
            except ValueError as exc:
                fail(where, str(exc))
            out[str(name)] = {"soft": number, "hard": number}
    return out


def _placement(value, fail, key):
    def preferences(items):
        if not isinstance(items, list):
            raise ValueError("must be a list of {spread: descriptor}")
        out = []
        for item in items:
            if not isinstance(item, dict) or set(item) != {"spread"} \
                    or not isinstance(item["spread"], str):
                raise ValueError(f"items must be {{spread: node.labels.NAME}} (got {item!r})")
            out.append({"spread": item["spread"]})
        return out
    return walk({"constraints": string_list, "preferences": preferences,
                 "max_replicas_per_node": whole_number(0)}, value, fail, key + ".", null=NO_VALUE)


def _endpoint_mode(value):
    # stack deploy sends the mode in lower case (`VIP` is vip)
    return choice("vip", "dnsrr")(text(value).lower())


def _deploy(value, fail, key):
    resources = value.get("resources") if isinstance(value, dict) else None
    reservations = resources.get("reservations") if isinstance(resources, dict) else None
    if isinstance(reservations, dict) and "pids" in reservations:
        # the Engine reserves no pids (nor does the stack file schema); a limit is what exists
        fail(f"{key}.resources.reservations.pids",
             "pids can only be limited: set deploy.resources.limits.pids")
    rules = {
        "mode": choice(*MODES), "replicas": whole_number(0),
        "endpoint_mode": _endpoint_mode, "labels": mapping(),
        "placement": Part(_placement, list), "resources": RESOURCES_KEYS,
        "restart_policy": RESTART_KEYS, "update_config": UPDATE_KEYS,
        "rollback_config": ROLLBACK_KEYS,
    }
    return walk(rules, value, fail, key + ".", null=NO_VALUE)


def _port_numbers(text_, what):
    match = _PORT_RANGE.match(text_)
    if not match:
        raise ValueError(f"{what} {text_!r} is not a port number or range")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if not 0 < first <= last <= 65535:
        raise ValueError(f"{what} {text_!r} is out of range (1-65535)")
    return list(range(first, last + 1))


def short_port(spec):
    """`[IP:][PUBLISHED[-END]:]TARGET[-END][/PROTO]` as the long syntax (mode ingress)."""
    spec = str(spec)
    body, _, protocol = spec.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        raise ValueError(f"{spec!r}: protocol must be tcp, udp or sctp")
    parts = body.rsplit(":", 2)
    target = parts[-1]
    published = parts[-2] if len(parts) > 1 else ""
    targets = _port_numbers(target, "target")
    if not published:
        return [{"target": t, "protocol": protocol, "mode": "ingress"} for t in targets]
    publishes = _port_numbers(published, "published")
    if len(publishes) != len(targets):
        raise ValueError(f"{spec!r}: the published range must be as long as the target range")
    return [{"target": t, "published": p, "protocol": protocol, "mode": "ingress"}
            for t, p in zip(targets, publishes)]


PORT_KEYS = {"target": whole_number(1, 65535), "published": whole_number(0, 65535),
             "protocol": choice("tcp", "udp", "sctp"), "mode": choice("host", "ingress")}


def _ports(value, fail, key):
    if not isinstance(value, list):
        fail(key, "must be a list (\"8080:80\" or {target, published, protocol, mode})")
    out = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if isinstance(item, dict):
            port = walk(PORT_KEYS, item, fail, where + ".", null=NO_VALUE)
            if "target" not in port:
                fail(where + ".target", "is required")
            out.append({"protocol": "tcp", "mode": "ingress", **port})
        elif isinstance(item, (str, int)) and not isinstance(item, bool):
            try:
                out.extend(short_port(item))
            except ValueError as exc:
                fail(where, str(exc))
        else:
            fail(where, "must be \"PUBLISHED:TARGET[/PROTO]\" or a mapping")
    return out


def _windows_drive(buffer, char):
    return char == ":" and len(buffer) == 1 and buffer.isalpha()


def is_file_path(source):
    """True when a short-syntax source is a path (a bind mount), as docker's loader decides:
    `.`, `/`, `~`, a Windows drive (`C:`) or a named pipe (`\\\\`); else a volume's name."""
    if source[0] in "./~":
        return True
    if len(source) == 1:
        return False
    return source.startswith("\\\\") or _windows_drive(source[0], source[1])


def _volume_fields(spec):
    """[SOURCE, TARGET, OPTIONS] of a short-syntax volume, split at colons as docker's loader
    splits them (a drive letter's colon kept: `C:\\data:/data`); ValueError for an empty
    section or a fourth one."""
    fields, buffer = [], ""
    for char in spec + "\0":
        if _windows_drive(buffer, char):
            buffer += char
        elif char in ":\0":
            if not buffer or (char == ":" and len(fields) == 2):
                raise ValueError(f"{spec!r} is not [SOURCE:]TARGET[:ro|rw|nocopy|PROPAGATION]")
            fields.append(buffer)
            buffer = ""
        else:
            buffer += char
    return fields


def short_volume(spec):
    """`[SOURCE:]TARGET[:OPTIONS]` as the long syntax, as docker's compose loader reads it."""
    if not spec:
        raise ValueError("must not be empty")
    fields = [spec] if len(spec) <= 2 else _volume_fields(spec)
    if len(fields) == 1:
        return {"type": "volume", "target": fields[0]}
    source, target = fields[0], fields[1]
    volume = {"type": "bind" if is_file_path(source) else "volume", "source": source,
              "target": target}
    for option in (fields[2].split(",") if len(fields) == 3 else ()):
        if option in ("ro", "rw"):
            volume["read_only"] = option == "ro"
        elif option == "nocopy":
            volume["volume"] = {"nocopy": True}
        elif option in _PROPAGATIONS:
            volume["bind"] = {"propagation": option}
        # docker ignores other options; so does shipway
    return volume


VOLUME_KEYS = {
    "type": choice("volume", "bind", "tmpfs", "npipe"), "source": text, "target": text,
    "read_only": boolean, "consistency": choice(*_CONSISTENCY),
    "bind": {"propagation": choice(*_PROPAGATIONS)}, "volume": {"nocopy": boolean},
    "tmpfs": {"size": size},
}
# The options each mount type takes (docker/cli convert/volume.go: a named pipe's are a bind's)
_OPTIONS = {"volume": "volume", "bind": "bind", "tmpfs": "tmpfs", "npipe": "bind"}


def _volumes(value, fail, key):
    if not isinstance(value, list):
        fail(key, "must be a list (\"SOURCE:TARGET[:ro]\" or {type, source, target, ...})")
    out = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if isinstance(item, str):
            try:
                volume = short_volume(item)
            except ValueError as exc:
                fail(where, str(exc))
        else:
            volume = walk(VOLUME_KEYS, item, fail, where + ".", null=NO_VALUE)
        kind = volume.setdefault("type", "volume")
        if "target" not in volume:
            fail(where + ".target", "is required")
        if kind in ("bind", "npipe") and not volume.get("source"):
            fail(where + ".source", f"is required for a{'n' if kind == 'npipe' else ''} "
                 f"{kind} mount")
        if kind == "tmpfs" and volume.get("source"):
            fail(where + ".source", "must be empty for a tmpfs mount")
        for options in ("bind", "volume", "tmpfs"):
            if options in volume and options != _OPTIONS[kind]:
                fail(f"{where}.{options}", f"{options} options are incompatible with type {kind}")
        out.append(volume)
    return out


def _references(value, fail, key):
    # secrets/configs: a source name, or {source, target, uid, gid, mode}
    if not isinstance(value, list):
        fail(key, "must be a list of names or of {source, target, uid, gid, mode}")
    out = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if isinstance(item, str):
            item = {"source": item}
        reference = walk({"source": text, "target": text, "uid": text, "gid": text,
                          "mode": file_mode}, item, fail, where + ".", null=NO_VALUE)
        if not reference.get("source"):
            fail(where + ".source", "is required")
        out.append(reference)
    return out


def _networks(value, fail, key):
    if isinstance(value, list):
        if not all(isinstance(name, str) for name in value):
            fail(key, "must be a list of network names or a mapping with aliases")
        value = {name: None for name in value}
    if not isinstance(value, dict):
        fail(key, "must be a list of network names or a mapping with aliases")
    out = {}
    for name, attach in value.items():
        if not isinstance(name, str) or not name:
            fail(key, f"has a bad network name {name!r}")
        out[name] = walk({"aliases": string_list}, attach or {}, fail, f"{key}.{name}.",
                         null=NO_VALUE)
    return out


def _extra_hosts(value):
    if isinstance(value, dict):
        return sorted(f"{k}:{v}" for k, v in mapping(":")(value).items())
    hosts = string_list(value)
    for host in hosts:
        if ":" not in host:
            raise ValueError(f"{host!r} is not HOST:IP")
    return hosts


def _tmpfs(value):
    """`tmpfs`: paths, each with optional `:size=N` options; the size is checked here, as the
    conversion would fail on it (compose.mounts reads only `size=`)."""
    targets = string_list(value)
    for target in targets:
        for option in filter(None, target.partition(":")[2].split(",")):
            if option.startswith("size="):
                size(option[5:])
    return targets


KEYS = {
    "image": text, "command": words, "entrypoint": words,
    "environment": mapping("=", allow_nil=True), "env_file": string_list,
    "labels": mapping(), "healthcheck": HEALTHCHECK_KEYS, "user": text, "working_dir": text,
    "hostname": text, "extra_hosts": _extra_hosts, "dns": string_list,
    "dns_search": string_list, "init": boolean, "read_only": boolean, "tty": boolean,
    "stdin_open": boolean, "stop_signal": text, "stop_grace_period": duration,
    "cap_add": string_list, "cap_drop": string_list, "sysctls": mapping(),
    # Given no value (null), these are checked as an empty list (`ulimits: ~` is refused as
    # no mapping), `deploy` as an empty mapping.
    "ulimits": Part(_ulimits, list), "logging": LOGGING_KEYS, "tmpfs": _tmpfs,
    "volumes": Part(_volumes, list), "secrets": Part(_references, list),
    "configs": Part(_references, list), "networks": Part(_networks, list),
    "ports": Part(_ports, list), "deploy": Part(_deploy),
    "isolation": text,   # ContainerSpec.Isolation (Windows nodes; `default` anywhere)
}
assert set(KEYS) == set(SERVICE_KEYS)


def normalise(service, fail, prefix=""):
    """The compose keys of `service` checked and in their long form (see the module doc).

    `service` holds compose keys only (shipway's own keys are the caller's); `deploy` may also
    hold shipway's run options, which are left out here.
    """
    service = dict(service)
    deploy = service.get("deploy")
    if isinstance(deploy, dict):
        service["deploy"] = {k: v for k, v in deploy.items() if k not in SHIPWAY_DEPLOY_KEYS}
        if not service["deploy"]:
            del service["deploy"]
    return walk(KEYS, service, fail, prefix, null=NO_VALUE)
