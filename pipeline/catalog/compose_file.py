"""One service of a stack file, read as `docker stack deploy -c FILE` reads it (docker/cli 20.10).

Variables are interpolated from the environment (`$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:?e}`,
`${V?e}`, `$$`) over the whole file, as the compose loader does; keys stack deploy refuses are
errors, keys it ignores give its warning lines, which `load` returns for the caller to print.
Paths in the file (env_file, bind sources, secret and config files) are made absolute against
the file's directory. Checking the keys' values is compose_keys' job (the catalog calls it).
"""
import json
import os
import re

import yaml

from pipeline.catalog import compose_keys, compose_yaml, loader

_NAME = r"[_a-z][_a-z0-9]*(?::?[-?][^}]*)?"
PATTERN = re.compile(r"\$(?i:(?P<escaped>\$)|(?P<named>" + _NAME + r")|\{(?P<braced>" + _NAME
                     + r")\}|(?P<invalid>))")

UNSUPPORTED = ("build", "cgroupns_mode", "cgroup_parent", "devices", "domainname",
               "external_links", "ipc", "links", "mac_address", "network_mode", "pid",
               "privileged", "restart", "security_opt", "shm_size", "userns_mode")
DEPRECATED = {
    "container_name": "Setting the container name is not supported.",
    "expose": "Exposing ports is unnecessary - services on the same network can access each "
              "other's containers on any port.",
}
FORBIDDEN = {
    "extends": "Support for `extends` is not implemented yet.",
    "volume_driver": "Instead of setting the volume driver on the service, define a volume "
                     "using the top-level `volumes` option and specify the driver there.",
    "volumes_from": "To share a volume between services, define it using the top-level "
                    "`volumes` option and reference it from each service that shares it using "
                    "the service-level `volumes` option.",
    "cpu_quota": "Set resource limits using deploy.resources",
    "cpu_shares": "Set resource limits using deploy.resources",
    "cpuset": "Set resource limits using deploy.resources",
    "mem_limit": "Set resource limits using deploy.resources",
    "memswap_limit": "Set resource limits using deploy.resources",
}
# Keys stack deploy accepts and shipway leaves out, each with why (a warning line).
LEFT_OUT = {
    "depends_on": "swarm starts services without waiting on one another",
    "credential_spec": "a Windows-only setting shipway does not carry",
}
_INT = "int"
_FLOAT = "float"
_BOOL = "bool"
# Where the compose loader casts an interpolated string (its interpolateTypeCastMapping).
CASTS = [
    (("services", "*", "configs", "[]", "mode"), _INT),
    (("services", "*", "secrets", "[]", "mode"), _INT),
    (("services", "*", "healthcheck", "retries"), _INT),
    (("services", "*", "healthcheck", "disable"), _BOOL),
    (("services", "*", "deploy", "replicas"), _INT),
    (("services", "*", "deploy", "update_config", "parallelism"), _INT),
    (("services", "*", "deploy", "update_config", "max_failure_ratio"), _FLOAT),
    (("services", "*", "deploy", "rollback_config", "parallelism"), _INT),
    (("services", "*", "deploy", "rollback_config", "max_failure_ratio"), _FLOAT),
    (("services", "*", "deploy", "restart_policy", "max_attempts"), _INT),
    (("services", "*", "deploy", "placement", "max_replicas_per_node"), _INT),
    (("services", "*", "ports", "[]", "target"), _INT),
    (("services", "*", "ports", "[]", "published"), _INT),
    (("services", "*", "ulimits", "*"), _INT),
    (("services", "*", "ulimits", "*", "hard"), _INT),
    (("services", "*", "ulimits", "*", "soft"), _INT),
    (("services", "*", "privileged"), _BOOL),
    (("services", "*", "read_only"), _BOOL),
    (("services", "*", "stdin_open"), _BOOL),
    (("services", "*", "tty"), _BOOL),
    (("services", "*", "volumes", "[]", "read_only"), _BOOL),
    (("services", "*", "volumes", "[]", "volume", "nocopy"), _BOOL),
] + [((kind, "*", flag), _BOOL) for kind, flag in (
    ("networks", "external"), ("networks", "internal"), ("networks", "attachable"),
    ("volumes", "external"), ("secrets", "external"), ("configs", "external"))]


class ComposeFileError(ValueError):
    """A stack file stack deploy would refuse: `key` (dotted, may be None) and the message."""

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key


def substitute(template, environ):
    """`template` with its variables replaced as docker/cli's template.Substitute does."""
    def replace(match):
        if match.group("escaped"):
            return "$"
        name = match.group("named") or match.group("braced")
        if not name:
            raise _Invalid(template)
        for separator in (":-", "-"):
            if separator in name:
                var, default = name.split(separator, 1)
                value = environ.get(var)
                empty = value is None or (separator == ":-" and value == "")
                return default if empty else value
        for separator in (":?", "?"):
            if separator in name:
                var, message = name.split(separator, 1)
                value = environ.get(var)
                if value is None or (separator == ":?" and value == ""):
                    raise _Invalid(f"required variable {var} is missing a value: {message}")
                return value
        return environ.get(name, "")
    return PATTERN.sub(replace, template)


class _Invalid(Exception):
    def __init__(self, template):
        super().__init__(template)
        self.template = template


def _cast(kind, value):
    if kind == _INT:
        if not re.fullmatch(r"[+-]?\d+", value):
            raise ValueError(f'strconv.Atoi: parsing "{value}": invalid syntax')
        return int(value)
    if kind == _FLOAT:
        return float(value)
    lowered = value.lower()
    if lowered in ("y", "yes", "true", "on"):
        return True
    if lowered in ("n", "no", "false", "off"):
        return False
    raise ValueError(f"invalid boolean: {value}")


def _cast_for(path):
    for pattern, kind in CASTS:
        if len(pattern) == len(path) and all(p in ("*", q) for p, q in zip(pattern, path)):
            return kind
    return None


def interpolate(value, environ, path=()):
    """`value` (a parsed stack file or part of it) with every string interpolated."""
    if isinstance(value, dict):
        return {k: interpolate(v, environ, path + (str(k),)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, environ, path + ("[]",)) for v in value]
    if not isinstance(value, str):
        return value
    dotted = ".".join(path)
    try:
        new = substitute(value, environ)
    except _Invalid as exc:
        raise ComposeFileError(f"invalid interpolation format for {dotted}: "
                               f"{json.dumps(exc.template)}; you may need to escape any $ "
                               f"with another $", dotted) from None
    kind = _cast_for(path)
    if new == value or kind is None:
        return new
    try:
        return _cast(kind, new)
    except ValueError as exc:
        raise ComposeFileError(f"error while interpolating {dotted}: failed to cast to "
                               f"expected type: {exc}", dotted) from None


def load(path, service_name, environ=None):
    """The service `service_name` of the stack file at `path` and what comes with it.

    Returns {"service": its keys (raw, interpolated, paths absolute), "definitions": the file's
    top-level networks/secrets/configs/volumes (raw), "base_dir": the file's directory,
    "warnings": lines}. Raises OSError when the file cannot be read, ComposeFileError when
    stack deploy would refuse it.
    """
    environ = dict(os.environ) if environ is None else environ
    raw = _read(path)
    if not isinstance(raw, dict):
        raise ComposeFileError("Top-level object must be a mapping")
    _check_keys(raw, "")
    version = str(raw.get("version", "3"))
    if not version.startswith("3"):
        raise ComposeFileError(f"unsupported Compose file version: {version}", "version")
    services = raw.get("services")
    if not isinstance(services, dict) or service_name not in services:
        known = ", ".join(sorted(map(str, services))) if isinstance(services, dict) else "none"
        raise ComposeFileError(f"no service {service_name!r} in the file (services: {known})",
                               "services")
    if not isinstance(services[service_name] or {}, dict):
        raise ComposeFileError(f"services.{service_name} must be a mapping")
    forbidden = sorted(f"{k}: {FORBIDDEN[k]}" for k in services[service_name] or {}
                       if k in FORBIDDEN)
    if forbidden:
        raise ComposeFileError("Compose file contains unsupported options: "
                               + " ".join(forbidden), forbidden[0].split(":")[0])
    raw = interpolate(raw, environ)
    _check_texts(raw, service_name)
    service = dict(raw["services"][service_name] or {})
    base_dir = os.path.dirname(os.path.abspath(path))
    warnings = _warnings(service)
    deploy = service.get("deploy") or {}
    if "restart" in service and isinstance(deploy, dict) and "restart_policy" not in deploy:
        policy = _restart_policy(service["restart"])
        if policy is not None:
            service["deploy"] = {**deploy, "restart_policy": policy}
    for key in (*UNSUPPORTED, *DEPRECATED, *LEFT_OUT, "tmpfs"):
        service.pop(key, None)
    for key in [k for k in service if str(k).startswith("x-")]:
        del service[key]
    unknown = [k for k in service if k not in compose_keys.SERVICE_KEYS]
    if unknown:
        raise ComposeFileError(f"services.{service_name} Additional property {unknown[0]} is "
                               f"not allowed", str(unknown[0]))
    _absolute_paths(service, base_dir, environ)
    warnings += _drop_addresses(service)
    definitions = {kind: raw.get(kind) or {} for kind in ("networks", "secrets", "configs",
                                                          "volumes")}
    return {"service": service, "definitions": definitions, "base_dir": base_dir,
            "warnings": warnings}


def _read(path):
    """The stack file's document (OSError when it cannot be read; ComposeFileError when it is
    not a YAML document)."""
    try:
        return compose_yaml.read(path)
    except loader.DuplicateKey as exc:
        # stack deploy's YAML parser refuses a key given twice ("already set in map")
        raise ComposeFileError(exc.problem) from None
    except yaml.YAMLError as exc:
        raise ComposeFileError(f"not valid YAML{loader.where(exc)}") from None
    except UnicodeDecodeError as exc:
        raise ComposeFileError(f"not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ComposeFileError("nested too deeply") from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors: well-formed YAML with an impossible value (`!!int abc`)
        raise ComposeFileError(f"not valid YAML: a value cannot be read ({exc})") from None


def _warnings(service):
    out = []
    unsupported = sorted(k for k in service if k in UNSUPPORTED)
    if unsupported:
        out.append(f"Ignoring unsupported options: {', '.join(unsupported)}")
    deprecated = sorted(f"{k}: {DEPRECATED[k]}" for k in service if k in DEPRECATED)
    if deprecated:
        out.append("Ignoring deprecated options: " + " ".join(deprecated))
    for key in sorted(k for k in service if k in LEFT_OUT):
        out.append(f"Ignoring {key}: {LEFT_OUT[key]}")
    if "tmpfs" in service:
        # stack deploy 20.10 drops a service's tmpfs key without a word; say so
        out.append("Ignoring tmpfs: docker stack deploy does not use it (mount a volume of "
                   "type tmpfs instead)")
    return out


def _drop_addresses(service):
    # A service's fixed addresses on a network: the loader reads them, stack deploy does not
    # use them (swarm assigns addresses); so shipway drops them and says so.
    networks = service.get("networks")
    if not isinstance(networks, dict):
        return []
    dropped = []
    for name, attach in networks.items():
        if isinstance(attach, dict):
            for key in ("ipv4_address", "ipv6_address"):
                if key in attach:
                    dropped.append(f"networks.{name}.{key}")
            networks[name] = {k: v for k, v in attach.items()
                              if k not in ("ipv4_address", "ipv6_address")}
    return [f"Ignoring {key}: swarm assigns the addresses" for key in dropped]


def _restart_policy(restart):
    # stack deploy reads `restart` (while warning it is unsupported) when there is no
    # deploy.restart_policy: always/unless-stopped -> any, on-failure[:N] -> on-failure.
    restart = str(restart)
    if restart in ("", "no"):
        return None
    if restart in ("always", "unless-stopped"):
        return {"condition": "any"}
    name, _, attempts = restart.partition(":")
    if name == "on-failure":
        policy = {"condition": "on-failure", "max_attempts": 0}
        if attempts:
            if not attempts.isdigit():
                raise ComposeFileError(f"invalid restart policy: {restart}", "restart")
            policy["max_attempts"] = int(attempts)
        return policy
    raise ComposeFileError(f"unknown restart policy: {restart}", "restart")


def _absolute_paths(service, base_dir, environ):
    files = service.get("env_file")
    if isinstance(files, str):
        files = [files]
    if isinstance(files, list):
        service["env_file"] = [os.path.join(base_dir, f) if isinstance(f, str) else f
                               for f in files]
    volumes = service.get("volumes")
    if isinstance(volumes, list):
        service["volumes"] = [_absolute_volume(v, base_dir, environ) for v in volumes]


def is_absolute(path):
    """True for a path docker's loader keeps as written: Unix (`/...`) or Windows (`C:\\...`,
    `\\\\host\\share`) absolute."""
    return path.startswith(("/", "\\\\")) or bool(re.match(r"[A-Za-z]:[\\/]", path))


def _absolute_volume(volume, base_dir, environ):
    """A bind source as docker's loader makes it: `~` is $HOME; an absolute path is kept as
    written (`/var/lib/docker/` keeps its slash); a relative one is joined to the file's
    directory and cleaned (Go's filepath.Join)."""
    if isinstance(volume, str):
        try:
            volume = compose_keys.short_volume(volume)
        except ValueError:
            return volume  # compose_keys says what is wrong with it
    if isinstance(volume, dict) and volume.get("type") == "bind" \
            and isinstance(volume.get("source"), str) and volume["source"]:
        source = volume["source"]
        if source.startswith("~") and "HOME" in environ:
            source = environ["HOME"] + source[1:]
        if not is_absolute(source):
            source = os.path.normpath(os.path.join(base_dir, source))
        volume = {**volume, "source": source}
    return volume


def stack_services(path, environ=None):
    """The services of the stack file at `path`, in the file's order, each with the services
    it `depends_on` (list or mapping form): what a group release of the whole stack orders
    its waves by. Raises OSError / ComposeFileError as `load` does."""
    environ = dict(os.environ) if environ is None else environ
    raw = _read(path)
    services = raw.get("services") if isinstance(raw, dict) else None
    if not isinstance(services, dict) or not services:
        raise ComposeFileError("the file has no services", "services")
    raw = interpolate({"services": services}, environ)["services"]
    out = {}
    for name, service in raw.items():
        depends = (service or {}).get("depends_on") or []
        if isinstance(depends, dict):
            depends = list(depends)
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise ComposeFileError("must be a list of service names", f"services.{name}."
                                   "depends_on")
        out[str(name)] = depends
    return out


def _check_keys(value, where):
    """Every mapping key is text, as docker's loader requires (go-yaml reads `n:` as false)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                shown = str(key).lower() if isinstance(key, bool) else repr(key)
                place = f"in {where}" if where else "at top level"
                raise ComposeFileError(f"Non-string key {place}: {shown}: quote it ("
                                       f"{BOOLEAN_WORDS} are booleans to docker stack deploy)",
                                       where or None)
            _check_keys(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_keys(item, f"{where}[{i}]")


BOOLEAN_WORDS = "y, yes, on, true, n, no, off, false"
# Mappings whose values the stack file schema wants as text, numbers or null: a boolean
# there (go-yaml's `y`, `on`, `true`) is refused by stack deploy, not taken as its text.
TEXT_MAPS = (("environment",), ("labels",), ("sysctls",), ("extra_hosts",),
             ("deploy", "labels"), ("logging", "options"))


def _check_texts(raw, service_name):
    """Booleans where stack deploy wants text, refused naming the key."""
    service = raw["services"][service_name] or {}
    places = [(".".join(p), _get(service, p)) for p in TEXT_MAPS]
    for kind in ("networks", "volumes", "secrets", "configs"):
        definitions = raw.get(kind) or {}
        if not isinstance(definitions, dict):
            raise ComposeFileError(f"{kind} must be a mapping of names to definitions", kind)
        for name, definition in definitions.items():
            for key in ("labels", "driver_opts"):
                places.append((f"{kind}.{name}.{key}", _get(definition, (key,))))
    for dotted, value in places:
        items = value.items() if isinstance(value, dict) else ()
        for key, item in items:
            if isinstance(item, bool):
                raise ComposeFileError("must be a string, number or null, as docker stack "
                                       f"deploy wants it: quote the value ({BOOLEAN_WORDS} "
                                       "are booleans to it)", f"{dotted}.{key}")


def _get(doc, path):
    for part in path:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc
