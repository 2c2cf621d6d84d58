"""The service catalog: loaded once, validated against SCHEMA, merged with its defaults.

A bad catalog is one line naming the file, the service and the key (exit 2).
"""
import copy
import os
import re

from pipeline import imageref
from pipeline.analysis import ANALYSIS_SCHEMA
from pipeline.errors import CatalogError
from pipeline.units import parse_duration

SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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


def _ratio(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return float(value)


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


def _folder(value):
    parts = _str(value).strip("/").split("/")
    if not all(re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", p) for p in parts):
        raise ValueError("must be a folder path like team or team/group ([A-Za-z0-9_.-] per part)")
    return "/".join(parts)


UPDATE_SCHEMA = {
    "parallelism": _int(0),
    "delay": _duration,
    "order": _one_of("start-first", "stop-first"),
    "failure_action": _one_of("pause", "continue", "rollback"),
    "monitor": _duration,
    "max_failure_ratio": _ratio,
}

PORT_SCHEMA = {
    "target": _int(1, 65535),
    "published": _int(1, 65535),
    "protocol": _one_of("tcp", "udp", "sctp"),
}

DEPLOY_SCHEMA = {
    "replicas": _int(0),
    "networks": _str_list,
    "env": _str_map(ENV_NAME),
    "labels": _str_map(),
    "ports": [PORT_SCHEMA],
    "endpoint_mode": _one_of("dnsrr", "vip"),
    "stop_grace_period": _duration,
    "timeout": _duration,
    "with_registry_auth": _bool,
    "update": UPDATE_SCHEMA,
    "rollback": UPDATE_SCHEMA,
    "keep_releases": _int(1),
    "analysis": ANALYSIS_SCHEMA,
}

JENKINS_SCHEMA = {
    "folder": _folder,
    "repo": _nonempty,
    "branch": _nonempty,
    "deploy_branches": _str_list,
    "credentials": _nonempty,
    "agent": _nonempty,
    "timeout_minutes": _int(1),
}

SERVICE_SCHEMA = {
    "image": _repository,
    "build": _str,
    "workdir": _str,
    "context": _str,
    "dockerfile": _nonempty,
    "build_args": _str_map(),
    "builder": _one_of("auto", "buildkit", "legacy"),
    "jenkins": JENKINS_SCHEMA,
    "deploy": DEPLOY_SCHEMA,
}

DEFAULTS = {
    "dockerfile": "Dockerfile",
    "builder": "auto",
    "jenkins": {"branch": "main", "deploy_branches": ["main"], "agent": "any",
                "timeout_minutes": 30},
    "deploy": {
        "replicas": 1,
        "networks": [],
        "env": {},
        "labels": {},
        "ports": [],
        "endpoint_mode": "dnsrr",
        "stop_grace_period": 10.0,
        "timeout": 300.0,
        "with_registry_auth": True,
        "keep_releases": 10,
        "update": {"parallelism": 1, "delay": 0.0, "order": "start-first",
                   "failure_action": "rollback", "monitor": 5.0, "max_failure_ratio": 0.0},
        "rollback": {"parallelism": 1, "delay": 0.0, "order": "start-first",
                     "failure_action": "pause", "monitor": 5.0, "max_failure_ratio": 0.0},
    },
}


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
    import yaml  # only stages that use a catalog pay for it

    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except OSError as exc:
        raise CatalogError(f"cannot read the catalog: {exc.strerror}", path=path,
                           hint="pass --catalog with the path of the catalog file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise CatalogError(f"not valid YAML{where}: {problem}", path=path) from None
    except UnicodeDecodeError as exc:
        raise CatalogError(f"not UTF-8 text (byte {exc.start})", path=path,
                           hint="save the catalog as UTF-8") from None
    except RecursionError:
        raise CatalogError("not a catalog: nested too deeply", path=path) from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors raise these for well-formed YAML with impossible values:
        # a date like 2001-13-01, `!!int abc`, `!!timestamp x`.
        raise CatalogError(f"not valid YAML: a value cannot be read ({exc})", path=path) from None
    return from_data(raw, path)


def from_data(raw, path="<catalog>"):
    """Validate an already-parsed catalog document."""
    def top_fail(key, message):
        raise CatalogError(message, path=path, key=key)

    if not isinstance(raw, dict):
        top_fail(None, "must be a mapping with a 'services' key")
    unknown = set(raw) - {"version", "name", "defaults", "services"}
    if unknown:
        top_fail(str(sorted(unknown, key=repr)[0]),  # keys may be numbers, dates, null
                 "unknown top-level key (known: version, name, defaults, services)")
    catalog_name = raw.get("name")
    if catalog_name is not None and not (isinstance(catalog_name, str)
                                         and SERVICE_NAME.match(catalog_name)):
        top_fail("name", "must be lower-case letters, digits and '-' (it marks the jobs it owns)")
    if raw.get("version", 1) != 1:
        top_fail("version", "only version 1 is understood")
    services = raw.get("services")
    if not isinstance(services, dict) or not services:
        top_fail("services", "must be a mapping of service names to their settings")
    defaults = validate(raw.get("defaults") or {}, SERVICE_SCHEMA,
                        lambda key, msg: top_fail(f"defaults.{key}", msg))
    resolved = {}
    for name, entry in services.items():
        def fail(key, message, name=name):
            raise CatalogError(message, path=path, service=name, key=key)

        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            fail(None, "service names are lower-case letters, digits and '-' (max 63)")
        checked = validate(entry if entry is not None else {}, SERVICE_SCHEMA, fail)
        settings = merge(merge(DEFAULTS, defaults), checked)
        if "image" not in settings:
            fail("image", "is required (the repository to build and push)")
        settings["name"] = name
        resolved[name] = settings
    return Catalog(path, resolved, catalog_name)
