"""The service catalog: loaded once, validated against SCHEMA, merged with its defaults.

A bad catalog is one line naming the file, the service and the key (exit 2).
"""
import copy
import os
import re

from pipeline import imageref
from pipeline.analysis import ANALYSIS_SCHEMA
from pipeline.errors import CatalogError
from pipeline.jobs import names
from pipeline.units import parse_duration

# A service name as the engine accepts it (swarmkit's validation, checked on this engine:
# `a.b`, `web-`, `web_` refused; `Web_1`, `A-B` accepted). The one place every stage checks.
# Written so that no name backtracks: each repetition takes exactly one letter or digit.
SERVICE_NAME = re.compile(r"^(?=.{1,63}\Z)[a-zA-Z0-9](?:[-_]*[A-Za-z0-9])*\Z")
SERVICE_NAME_RULE = ("service names are letters, digits, '-' and '_', starting and ending with "
                     "a letter or digit, at most 63 characters")
# The catalog's own name marks the Jenkins jobs it owns: kept to lower case.
CATALOG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Characters no value can carry: NUL ends a C string (argv, environment, `sh -c`), a lone
# surrogate has no UTF-8 form, and U+FFFE/U+FFFF are not allowed in XML (job config.xml).
_UNCARRIABLE = re.compile("[\x00\ud800-\udfff\ufffe\uffff]")
MAX_SECONDS = (2 ** 63 - 1) / 1e9   # the Engine API's durations are int64 nanoseconds


def _str(value):
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _nonempty(value):
    if not _str(value).strip():
        raise ValueError("must not be empty")
    return value


MAX_COUNT = 2 ** 31 - 1   # counts beyond this are mistakes (and overflow a Java int)


def whole_number(minimum=0, maximum=MAX_COUNT):
    """A check for a whole number from `minimum` to `maximum` (ValueError otherwise)."""
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if value < minimum:
            raise ValueError(f"must be {minimum} or more")
        if value > maximum:
            raise ValueError(f"must be {maximum} or less")
        return value
    return check


_int = whole_number


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _duration(value):
    return check_duration(parse_duration(value))


def check_duration(seconds):
    """A parsed duration the Engine API can hold: finite, at most ~292 years."""
    if not 0 <= seconds <= MAX_SECONDS:  # also false for NaN
        raise ValueError(f"a duration must be finite and at most {MAX_SECONDS:.0f}s")
    return seconds


def _carriable(value):
    """The first character of `value` (a converted setting) that no output can carry."""
    if isinstance(value, str):
        found = _UNCARRIABLE.search(value)
        return found.group() if found else None
    if isinstance(value, dict):
        value = list(value) + list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _carriable(item)
            if found is not None:
                return found
    return None


uncarriable = _carriable   # for the stack-file keys' checks (swarm/compose_keys.py)


def _one_of(*choices):
    def check(value):
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)} (got {value!r})")
        return value
    return check


def _str_map(key_pattern=None):
    def check(value):
        if not isinstance(value, dict):
            raise ValueError("must be a mapping of names to strings")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or (key_pattern and not key_pattern.match(k)):
                raise ValueError(f"has a bad name {k!r}")
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise ValueError(f"value of {k!r} must be a string")
            out[k] = str(v)
        return out
    return check


def _str_list(value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of strings")
    return value


def _repository(value):
    return imageref.check_repository(_str(value))


JENKINS_SCHEMA = {
    "folder": names.check_folder,    # each part as Jenkins.checkGoodName allows
    "repo": _nonempty,
    "branch": _nonempty,
    "deploy_branches": _str_list,
    "credentials": _nonempty,
    "scm_credentials": names.check_credentials_id,   # the Git remote's credentials id
    # deploy.analysis' Prometheus and Pushgateway login, bound around deploy and rollback:
    # a Username with password credential, or a Secret text one holding a bearer token.
    "prometheus_credentials": names.check_credentials_id,
    "prometheus_token": names.check_credentials_id,
    "agent": _nonempty,
    "timeout_minutes": _int(1),
}

# shipway's own run options, under `deploy` next to the compose deploy keys.
RUN_SCHEMA = {
    "timeout": _duration,
    "with_registry_auth": _bool,
    "keep_releases": _int(1),
    "analysis": ANALYSIS_SCHEMA,     # releases judged by their traffic (pipeline/analysis.py)
}


def _compose_ref(value):
    if not isinstance(value, dict) or set(value) != {"file", "service"} \
            or not all(isinstance(v, str) and v for v in value.values()):
        raise ValueError("must be {file: STACK-FILE, service: NAME}")
    return dict(value)


# shipway's keys of a service entry; every other key is a stack-file (compose) service key
# (swarm/compose_keys.py). `image` is shipway's: the repository, no tag.
SERVICE_SCHEMA = {
    "image": _repository,
    "build": _str,
    "workdir": _str,
    "context": _str,
    "dockerfile": _nonempty,
    "build_args": _str_map(),
    "builder": _one_of("auto", "buildkit", "legacy"),
    "jenkins": JENKINS_SCHEMA,
    "compose": _compose_ref,
}

# Keys of earlier catalogs, refused with where they went.
MOVED = {
    "deploy.env": "is now `environment` at the service's top level (a map or KEY=VALUE list)",
    "deploy.networks": "is now `networks` at the service's top level",
    "deploy.ports": "is now `ports` at the service's top level (compose syntax: add "
                    "`mode: host` for what deploy.ports did)",
    "deploy.stop_grace_period": "is now `stop_grace_period` at the service's top level",
    "deploy.update": "is now `deploy.update_config`",
    "deploy.rollback": "is now `deploy.rollback_config`",
}

DEFAULTS = {
    "dockerfile": "Dockerfile",
    "builder": "auto",
    "jenkins": {"branch": "main", "deploy_branches": ["main"], "agent": "any",
                "timeout_minutes": 30},
    "deploy": {"timeout": 300.0, "with_registry_auth": True, "keep_releases": 10},
    "image_ref": None,
    "source": "catalog",
    "service": {},
    "definitions": {"secrets": {}, "configs": {}, "networks": {}, "volumes": {}},
    "warnings": [],
}
DEFINITION_KINDS = ("secrets", "configs", "networks", "volumes")


def merge(base, override):
    """Deep merge of mappings: override wins key by key; lists and scalars replace."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate(data, schema, fail, prefix=""):
    """Check `data` against `schema`; `fail(key, message)` raises. Returns the converted data."""
    if not isinstance(data, dict):
        fail(prefix.rstrip(".") or None, "must be a mapping")
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            fail(dotted, f"unknown key (known keys here: {known})")
        rule = schema[key]
        if isinstance(rule, dict):
            out[key] = validate(value if value is not None else {}, rule, fail, dotted + ".")
        elif isinstance(rule, list):
            if not isinstance(value, list):
                fail(dotted, "must be a list")
            out[key] = [validate(item, rule[0], fail, f"{dotted}[{i}].")
                        for i, item in enumerate(value)]
        else:
            try:
                out[key] = rule(value)
            except ValueError as exc:
                fail(dotted, str(exc))
            bad = _carriable(out[key])
            if bad is not None:
                fail(dotted, f"must not contain the character {bad!r} (U+{ord(bad):04X})")
    return out


class Catalog:
    """A loaded catalog: `services` maps a name to its resolved settings (defaults applied)."""

    def __init__(self, path, services, name=None):
        self.path = path
        # Identifies the catalog as the owner of the Jenkins jobs it provisions.
        self.name = name or os.path.splitext(os.path.basename(str(path)))[0]
        self.base_dir = os.path.dirname(os.path.abspath(path))
        self.services = services

    def service(self, name):
        """The settings of one service, or a CatalogError naming the services there are."""
        if name not in self.services:
            known = ", ".join(sorted(self.services)) or "none"
            raise CatalogError(f"no service {name!r} in the catalog (services: {known})",
                               path=self.path, hint="pass --service with one of those")
        return self.services[name]

    def resolve_path(self, relative):
        """A catalog path, relative to the catalog file's directory."""
        return os.path.normpath(os.path.join(self.base_dir, relative or "."))


def load(path):
    """Read, validate and resolve the catalog at `path`."""
    from pipeline import doccache

    try:
        # safe_load that refuses duplicate keys; unchanged bytes are read back from the
        # cache without importing PyYAML
        raw = doccache.load_file(path)
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
    import yaml  # only a parse raises these; the cached path never imports it

    if isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        return CatalogError(f"not valid YAML{where}: {problem}", path=path)
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
    from pipeline.swarm import compose_defs

    def top_fail(key, message):
        raise CatalogError(message, path=path, key=key)

    if not isinstance(raw, dict):
        top_fail(None, "must be a mapping with a 'services' key")
    known = ("version", "name", "defaults", "services") + DEFINITION_KINDS
    unknown = set(raw) - set(known)
    if unknown:
        top_fail(str(sorted(unknown, key=repr)[0]),  # keys may be numbers, dates, null
                 f"unknown top-level key (known: {', '.join(known)})")
    catalog_name = raw.get("name")
    if catalog_name is not None and not (isinstance(catalog_name, str)
                                         and CATALOG_NAME.match(catalog_name)):
        top_fail("name", "must be lower-case letters, digits and '-' (it marks the jobs it owns)")
    if raw.get("version", 1) != 1:
        top_fail("version", "only version 1 is understood")
    services = raw.get("services")
    if not isinstance(services, dict) or not services:
        top_fail("services", "must be a mapping of service names to their settings")
    base_dir = os.path.dirname(os.path.abspath(path))
    defined = compose_defs.definitions(raw, top_fail, base_dir)
    defaults = split_entry(raw.get("defaults") or {},
                           lambda key, msg: top_fail(f"defaults.{key}", msg))
    if "compose" in defaults[0]:
        top_fail("defaults.compose", "belongs in a service entry (one stack file service each)")
    resolved = {}
    for name, entry in services.items():
        def fail(key, message, name=name):
            raise CatalogError(message, path=path, service=name, key=key)

        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            fail(None, SERVICE_NAME_RULE)
        own, run, service = split_entry(entry if entry is not None else {}, fail)
        settings = merge(DEFAULTS, {**merge(defaults[0], own),
                                    "deploy": merge(DEFAULTS["deploy"],
                                                    merge(defaults[1], run))})
        if {"prometheus_credentials", "prometheus_token"} <= set(settings["jenkins"]):
            fail("jenkins.prometheus_token", "is given with jenkins.prometheus_credentials: "
                 "Prometheus takes one login, give one of the two")
        layers, definitions = [defaults[2], service], defined
        if "compose" in own:
            stack = _stack_service(own["compose"], base_dir, environ)
            layers.insert(1, stack["service"])   # over the defaults, under the entry
            definitions = {kind: {**stack["definitions"][kind], **defined[kind]}
                           for kind in DEFINITION_KINDS}
            settings.update(source="compose", warnings=stack["warnings"])
            settings["compose"] = {"file": stack["file"], "service": own["compose"]["service"]}
            settings["image_ref"] = _image_from_file(stack, own, fail)
            if settings["image_ref"]:
                settings.setdefault("image", imageref.split(settings["image_ref"])[0])
        merged = {}
        for layer in layers:
            # networks is the whole list of attachments: a later layer's replaces it
            merged = merge({k: v for k, v in merged.items()
                            if not (k == "networks" and k in layer)}, layer)
        merged.pop("image", None)   # the image is shipway's to choose (settings image/image_ref)
        compose_defs.check_service(merged, fail)
        _check_env_files(merged, base_dir, fail)
        compose_defs.check_references(merged, definitions, fail)
        settings["service"] = merged
        settings["definitions"] = _used(merged, definitions)
        if "image" not in settings:
            fail("image", "is required (the repository to build and push)")
        settings["name"] = name
        settings["base_dir"] = base_dir   # what catalog paths are relative to
        resolved[name] = settings
    return Catalog(path, resolved, catalog_name)


def split_entry(entry, fail):
    """(shipway's keys, shipway's deploy run options, compose keys normalised) of an entry."""
    from pipeline.swarm import compose_keys

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
    own = validate({k: v for k, v in entry.items() if k in SERVICE_SCHEMA}, SERVICE_SCHEMA, fail)
    run = validate({k: v for k, v in deploy.items() if k in RUN_SCHEMA}, RUN_SCHEMA,
                   lambda key, msg: fail(f"deploy.{key}", msg))
    compose = {k: v for k, v in entry.items() if k in compose_keys.KEYS and k != "image"}
    return own, run, compose_keys.normalise(compose, fail)


def _stack_service(ref, base_dir, environ):
    """The stack file's service and definitions, checked (errors name the stack file)."""
    from pipeline.swarm import compose_defs, compose_file, compose_keys

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
    from pipeline.swarm import compose

    for path in service.get("env_file", []):
        try:
            compose.read_env_file(os.path.join(base_dir, path), {})
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
