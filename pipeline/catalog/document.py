"""The catalog file: read, checked against the schemas, resolved into each service's
settings (its defaults, the catalog's `defaults:`, a stack file it names, its own entry).

A bad catalog is one line naming the file, the service and the key (exit 2).
"""
import copy
import os

import yaml

from pipeline import imageref
from pipeline.catalog import (
    compose_defs,
    compose_file,
    compose_keys,
    environments,
    groups,
    loader,
    notify_keys,
)
from pipeline.catalog.compose_defs import DEFAULT_NETWORK, DEFINITION_KINDS
from pipeline.catalog.env_file import read_env_file
from pipeline.catalog.keys import (
    CATALOG_NAME,
    DEFAULTS,
    MOVED,
    RUN_SCHEMA,
    SERVICE_NAME,
    SERVICE_NAME_RULE,
    SERVICE_SCHEMA,
    TOP_LEVEL,
)
from pipeline.catalog.schema import walk
from pipeline.errors import CatalogError


def merge(base, override):
    """Deep merge of mappings: override wins key by key; lists and scalars replace."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class Catalog:
    """A loaded catalog: `services` maps a name to its resolved settings (defaults applied)."""

    def __init__(self, path, services, name=None, environments=None, variants=None,
                 groups=None, stacks=None):
        self.path = path
        # Identifies the catalog as the owner of the Jenkins jobs it provisions.
        self.name = name or os.path.splitext(os.path.basename(str(path)))[0]
        self.base_dir = os.path.dirname(os.path.abspath(path))
        self.services = services
        # name -> Environment, in promotion order ({}: the one engine DOCKER_HOST names)
        self.environments = environments or {}
        # (service, environment) -> the service's settings there
        self.variants = variants or {}
        # name -> catalog.groups.Group; a stack file's group has its members in `stacks`
        self.groups = groups or {}
        self.stacks = stacks or {}     # group -> {stack service -> settings}

    def group(self, name):
        """The Group called `name`, or a CatalogError naming the groups there are."""
        if name not in self.groups:
            known = ", ".join(self.groups) or "none"
            raise CatalogError(f"no group {name!r} in the catalog (groups: {known})",
                               path=self.path, hint="pass --group with one of those"
                               if self.groups else "add a top-level 'groups:' (docs/catalog.md)")
        return self.groups[name]

    def members(self, group, environment=None):
        """{member -> its settings (in `environment`)} of a group, in step order."""
        found = self.group(group)
        if found.stack is not None:
            env = self.environment(environment).name if environment else None
            return {member: {**settings, "environment": env}
                    for member, settings in self.stacks[group].items()}
        return {member: self.service(member, environment) for member in found.members}

    def service(self, name, environment=None):
        """The settings of one service (in `environment`, when given: its engine's service
        name and keys), or a CatalogError naming the services or environments there are."""
        if name not in self.services:
            known = ", ".join(sorted(self.services)) or "none"
            raise CatalogError(f"no service {name!r} in the catalog (services: {known})",
                               path=self.path, hint="pass --service with one of those")
        if environment is None:
            return self.services[name]
        return self.variants[(name, self.environment(environment).name)]

    def environment(self, name):
        """The Environment called `name`, or a CatalogError naming those there are."""
        if name not in self.environments:
            known = ", ".join(self.environments) or "none"
            raise CatalogError(f"no environment {name!r} in the catalog (environments: "
                               f"{known})", path=self.path,
                               hint="pass --environment with one of those" if self.environments
                               else "add a top-level 'environments:' (docs/catalog.md)")
        return self.environments[name]

    def resolve_path(self, relative):
        """A catalog path, relative to the catalog file's directory."""
        return os.path.normpath(os.path.join(self.base_dir, relative or "."))


def load(path):
    """Read, validate and resolve the catalog at `path`."""
    try:
        raw = loader.read(path)   # safe_load that refuses duplicate keys
    except OSError as exc:
        raise CatalogError(f"cannot read the catalog: {exc.strerror}", path=path,
                           hint="pass --catalog with the path of the catalog file") from None
    except Exception as exc:
        error = _unreadable(exc, path)
        if error is None:
            raise
        raise error from None
    return from_data(raw, path)


def _unreadable(exc, path):
    """The CatalogError for a catalog file that is not a YAML document shipway can read;
    None for any other exception."""
    if isinstance(exc, yaml.YAMLError):
        problem = getattr(exc, "problem", None) or "invalid YAML"
        return CatalogError(f"not valid YAML{loader.where(exc)}: {problem}", path=path)
    if isinstance(exc, UnicodeDecodeError):
        return CatalogError(f"not UTF-8 text (byte {exc.start})", path=path,
                            hint="save the catalog as UTF-8")
    if isinstance(exc, RecursionError):
        return CatalogError("not a catalog: nested too deeply", path=path)
    if isinstance(exc, (ValueError, TypeError, AttributeError, OverflowError)):
        # PyYAML's constructors raise these for well-formed YAML with impossible values:
        # a date like 2001-13-01, `!!int abc`, `!!timestamp x`.
        return CatalogError(f"not valid YAML: a value cannot be read ({exc})", path=path)
    return None


def from_data(raw, path="<catalog>", environ=None):
    """Validate an already-parsed catalog document (stack files it names are read too;
    `environ`, default the process environment, fills their variables)."""
    def top_fail(key, message):
        raise CatalogError(message, path=path, key=key)

    catalog_name = _check_top_level(raw, top_fail)
    base_dir = os.path.dirname(os.path.abspath(path))
    defined = compose_defs.definitions(raw, top_fail, base_dir)
    defaults = split_entry(raw.get("defaults") or {},
                           lambda key, msg: top_fail(f"defaults.{key}", msg))
    if "compose" in defaults[0]:
        top_fail("defaults.compose", "belongs in a service entry (one stack file service each)")
    envs = environments.read(raw.get("environments"), top_fail)
    notify = notify_keys.read(raw.get("notify"), top_fail)
    resolved, variants = {}, {}
    for name, entry in raw["services"].items():
        def fail(key, message, name=name):
            raise CatalogError(message, path=path, service=name, key=key)

        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            fail(None, SERVICE_NAME_RULE)
        entry = entry if entry is not None else {}
        if not isinstance(entry, dict):
            fail(None, "must be a mapping")
        context = (defaults, defined, base_dir, environ)
        per_env = environments.service_entries(entry, envs, fail)
        entry = {k: v for k, v in entry.items() if k != "environments"}
        resolved[name] = _resolve(name, entry, *context, fail)
        for env in envs.values():
            variants[(name, env.name)] = _in_environment(name, entry, per_env.get(env.name),
                                                         env, context, fail)
    found, stacks = _groups(raw, resolved, base_dir, environ, top_fail)
    _notify_every(notify, [*resolved.values(), *variants.values(),
                           *(s for members in stacks.values() for s in members.values())])
    return Catalog(path, resolved, catalog_name, envs, variants, found, stacks)


def _notify_every(notify, every):
    """The catalog's top-level `notify` first in the list of every service's settings."""
    for settings in every:
        settings["notify"] = copy.deepcopy(notify) + settings.get("notify", [])


def _groups(raw, services, base_dir, environ, fail):
    """The catalog's groups, checked against its services; a stack file's group with its
    services resolved as `compose: {file:, service:}` entries named `<stack>_<service>`."""
    found, stacks = {}, {}
    for name, keys in groups.read(raw.get("groups"), fail).items():
        common = {"name": name, "on_failure": keys.get("on_failure", "rollback"),
                  "jenkins": _group_jenkins(name, keys.get("jenkins"), fail)}
        if "steps" in keys:
            found[name] = groups.Group(steps=groups.steps(name, keys["steps"], services, fail),
                                       **common)
            continue
        ref = keys["compose"]
        path = groups.stack_file(base_dir, ref)
        try:
            depends = compose_file.stack_services(path, environ)
        except OSError as exc:
            fail(f"groups.{name}.compose", f"cannot read {ref['file']}: {exc.strerror}")
        except compose_file.ComposeFileError as exc:
            fail(f"groups.{name}.compose", f"{ref['file']}: {exc}")
        stacks[name] = {member: _stack_member(ref, member, base_dir, environ)
                        for member in depends}
        found[name] = groups.Group(steps=groups.waves(name, depends, fail), stack=ref["stack"],
                                   stack_file=path, **common)
    return found, stacks


def _group_jenkins(name, jenkins, fail):
    """A group's `jenkins:` with a service's defaults under it (branch main, deploy_branches
    [main], agent any, 30 minutes); {} when it has none (no Jenkins jobs)."""
    if not jenkins:
        return {}
    if {"prometheus_credentials", "prometheus_token"} <= set(jenkins):
        fail(f"groups.{name}.jenkins.prometheus_token", "is given with "
             "jenkins.prometheus_credentials: Prometheus takes one login, give one of the two")
    return merge(DEFAULTS["jenkins"], jenkins)


def _stack_member(ref, member, base_dir, environ):
    """The settings of service `member` of a group's stack file: as a catalog entry
    `compose: {file:, service: member}` would have them, named as stack deploy names it."""
    def fail(key, message):
        raise CatalogError(message, path=groups.stack_file(base_dir, ref), service=member,
                           key=key)

    entry = {"compose": {"file": ref["file"], "service": member}}
    settings = _resolve(member, entry, ({}, {}, {}), _NO_DEFINITIONS, base_dir, environ, fail)
    settings.update(name=f"{ref['stack']}_{member}", stack=ref["stack"], environment=None)
    return settings


def _in_environment(name, entry, override, env, context, fail):
    """The settings of service `name` in `env`: the entry with the environment's keys over
    it, as deploy flags go over the catalog's (maps merge key by key, lists replace)."""
    swarm_name, keys = override or (None, {})

    def env_fail(key, message):
        fail(f"environments.{env.name}" + (f".{key}" if key else ""), message)

    if swarm_name is not None and not (isinstance(swarm_name, str)
                                       and SERVICE_NAME.match(swarm_name)):
        env_fail("name", SERVICE_NAME_RULE)
    settings = _resolve(name, entry, *context, env_fail, over=split_entry(keys, env_fail))
    settings["name"] = swarm_name or name
    settings["environment"] = env.name
    settings["image"] = imageref.on_registry(settings["image"], env.registry)
    return settings


_NO_DEFINITIONS = {kind: {} for kind in compose_defs.DEFINITION_KINDS}


def _check_top_level(raw, top_fail):
    """The document's own keys checked; returns the catalog's name (None when not given)."""
    if not isinstance(raw, dict):
        top_fail(None, "must be a mapping with a 'services' key")
    unknown = set(raw) - set(TOP_LEVEL)
    if unknown:
        top_fail(str(sorted(unknown, key=repr)[0]),  # keys may be numbers, dates, null
                 f"unknown top-level key (known: {', '.join(TOP_LEVEL)})")
    catalog_name = raw.get("name")
    if catalog_name is not None and not (isinstance(catalog_name, str)
                                         and CATALOG_NAME.match(catalog_name)):
        top_fail("name", "must be lower-case letters, digits and '-' (it marks the jobs it owns)")
    if raw.get("version", 1) != 1:
        top_fail("version", "only version 1 is understood")
    services = raw.get("services")
    if not isinstance(services, dict) or not services:
        top_fail("services", "must be a mapping of service names to their settings")
    return catalog_name


def _resolve(name, entry, defaults, defined, base_dir, environ, fail, over=None):
    """The settings of service `name`: shipway's defaults, the catalog's `defaults:`, the
    stack file the entry names (if any), the entry, and `over` (an environment's keys, split
    as split_entry splits them); checked across keys."""
    own, run, service = split_entry(entry if entry is not None else {}, fail)
    if over is not None:
        own, run = merge(own, over[0]), merge(run, over[1])
    settings = merge(DEFAULTS, {**merge(defaults[0], own),
                                "deploy": merge(DEFAULTS["deploy"], merge(defaults[1], run))})
    if {"prometheus_credentials", "prometheus_token"} <= set(settings["jenkins"]):
        fail("jenkins.prometheus_token", "is given with jenkins.prometheus_credentials: "
             "Prometheus takes one login, give one of the two")
    layers, definitions = [defaults[2], service, *([over[2]] if over else [])], defined
    if "compose" in own:
        stack = _stack_service(own["compose"], base_dir, environ)
        layers.insert(1, stack["service"])   # over the defaults, under the entry
        definitions = {kind: {**stack["definitions"][kind], **defined[kind]}
                       for kind in DEFINITION_KINDS}
        settings.update(source="compose", warnings=stack["warnings"])
        settings["compose"] = {"file": stack["file"], "service": own["compose"]["service"]}
        # the stack it is deployed in (a group's stack file sets it for its members)
        settings["stack"] = own["compose"].get("stack")
        settings["image_ref"] = _image_from_file(stack, own, fail)
        if settings["image_ref"]:
            settings.setdefault("image", imageref.split(settings["image_ref"])[0])
    merged = {}
    for layer in layers:
        # networks is the whole list of attachments: a later layer's replaces it
        merged = merge({k: v for k, v in merged.items()
                        if not (k == "networks" and k in layer)}, layer)
    merged.pop("image", None)   # the image is shipway's to choose (settings image/image_ref)
    if "compose" in own and "networks" not in merged:
        # As stack deploy attaches a service with no networks: to the stack's `default`
        # (<stack>_default, or what the file defines as `default`).
        merged["networks"] = {DEFAULT_NETWORK: {}}
    compose_defs.check_service(merged, fail)
    mode = merged.get("deploy", {}).get("mode")
    if mode in compose_keys.JOB_MODES and "analysis" in settings["deploy"]:
        fail("deploy.analysis", f"a {mode} service serves no traffic to judge: remove it")
    _check_env_files(merged, base_dir, fail)
    compose_defs.check_references(merged, definitions, fail)
    settings["service"] = merged
    settings["definitions"] = _used(merged, definitions)
    if "image" not in settings:
        fail("image", "is required (the repository to build and push)")
    settings["name"] = name           # the swarm service (an environment may rename it)
    settings["entry"] = name          # the catalog's name for it (stage hand-over files)
    settings["environment"] = None
    settings["base_dir"] = base_dir   # what catalog paths are relative to
    return settings


def split_entry(entry, fail):
    """(shipway's keys, shipway's deploy run options, compose keys normalised) of an entry."""
    if not isinstance(entry, dict):
        fail(None, "must be a mapping")
    deploy = entry.get("deploy") or {}
    if not isinstance(deploy, dict):
        fail("deploy", "must be a mapping")
    for key in deploy:
        if f"deploy.{key}" in MOVED:
            fail(f"deploy.{key}", MOVED[f"deploy.{key}"])
    for key in entry:
        if key not in SERVICE_SCHEMA and key not in compose_keys.KEYS:
            known = ", ".join(sorted(set(SERVICE_SCHEMA) | set(compose_keys.KEYS)))
            fail(str(key), f"unknown key (known keys here: {known})")
    own = walk(SERVICE_SCHEMA, {k: v for k, v in entry.items() if k in SERVICE_SCHEMA}, fail)
    run = walk(RUN_SCHEMA, {k: v for k, v in deploy.items() if k in RUN_SCHEMA},
               lambda key, msg: fail(f"deploy.{key}", msg))
    compose = {k: v for k, v in entry.items() if k in compose_keys.KEYS and k != "image"}
    return own, run, compose_keys.normalise(compose, fail)


def _stack_service(ref, base_dir, environ):
    """The stack file's service and definitions, checked (errors name the stack file)."""
    file_path = os.path.normpath(os.path.join(base_dir, ref["file"]))

    def fail(key, message):
        raise CatalogError(message, path=file_path, service=ref["service"], key=key)

    try:
        stack = compose_file.load(file_path, ref["service"], environ)
    except OSError as exc:
        raise CatalogError(f"cannot read the stack file: {exc.strerror}", path=file_path,
                           hint="compose.file is relative to the catalog") from None
    except compose_file.ComposeFileError as exc:
        fail(exc.key, str(exc))
    definitions = compose_defs.definitions(
        stack["definitions"], fail, stack["base_dir"], stack_file=True)
    stack["service"] = compose_keys.normalise(stack["service"], fail)
    compose_defs.check_references(stack["service"], definitions, fail, strict=True)
    stack["definitions"] = definitions
    stack["file"] = file_path
    return stack


def _image_from_file(stack, own, fail):
    """The stack file's image reference (with its tag) when the catalog keeps its repository."""
    reference = stack["service"].get("image")
    if reference is None:
        return None
    try:
        repo, _, _ = imageref.split(reference)
    except ValueError as exc:
        fail("compose", f"the stack file's image: {exc}")
    return reference if own.get("image", repo) == repo else None


def _check_env_files(service, base_dir, fail):
    """Each env_file can be read and parsed now, not halfway through a deploy."""
    for path in service.get("env_file", []):
        try:
            read_env_file(os.path.join(base_dir, path), {})
        except OSError as exc:
            fail("env_file", f"cannot read {path}: {exc.strerror}")
        except (ValueError, UnicodeDecodeError) as exc:
            fail("env_file", f"{path}: {exc}")


def _used(service, definitions):
    """The definitions `service` refers to (networks and volumes: the defined ones)."""
    used = {"secrets": {r["source"] for r in service.get("secrets", [])},
            "configs": {r["source"] for r in service.get("configs", [])},
            "networks": set(service.get("networks", {})),
            "volumes": {v.get("source") for v in service.get("volumes", [])
                        if v["type"] == "volume"}}
    return {kind: {k: v for k, v in definitions[kind].items() if k in used[kind]}
            for kind in DEFINITION_KINDS}
