"""shipway's own keys of a catalog: the service name, the keys of a service entry that are
not stack-file keys (image, build, jenkins, compose, ...), shipway's run options under
`deploy`, the keys that moved, and the defaults a service's settings start from.

Every other key of a service entry is a stack-file (compose) key: compose_keys.py.
"""
import re

from pipeline import imageref
from pipeline.catalog import notify_keys
from pipeline.catalog.analysis_keys import ANALYSIS_SCHEMA
from pipeline.catalog.compose_defs import DEFINITION_KINDS
from pipeline.catalog.schema import Part
from pipeline.catalog.values import boolean, choice, duration, whole_number
from pipeline.jobs import names

# A service name as the engine accepts it (swarmkit's validation, checked on this engine:
# `a.b`, `web-`, `web_` refused; `Web_1`, `A-B` accepted). The one place every stage checks.
# Written so that no name backtracks: each repetition takes exactly one letter or digit.
SERVICE_NAME = re.compile(r"^(?=.{1,63}\Z)[a-zA-Z0-9](?:[-_]*[A-Za-z0-9])*\Z")
SERVICE_NAME_RULE = ("service names are letters, digits, '-' and '_', starting and ending with "
                     "a letter or digit, at most 63 characters")
# The catalog's own name marks the Jenkins jobs it owns: kept to lower case.
CATALOG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# The catalog's top-level keys: its own, and the stack files' definitions.
TOP_LEVEL = ("version", "name", "defaults", "environments", "services", "groups",
             "notify") + DEFINITION_KINDS


def string(value):
    """A string (YAML numbers are refused: a build command is text)."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def nonempty(value):
    """A string with something in it besides blanks."""
    if not string(value).strip():
        raise ValueError("must not be empty")
    return value


def string_map(value):
    """A mapping of names to strings (numbers become their text)."""
    if not isinstance(value, dict):
        raise ValueError("must be a mapping of names to strings")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise ValueError(f"has a bad name {k!r}")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ValueError(f"value of {k!r} must be a string")
        out[k] = str(v)
    return out


def string_list(value):
    """A string, or a list of non-empty strings."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of strings")
    return value


def _repository(value):
    return imageref.check_repository(string(value))


def stack_name(value):
    """A stack's name (its namespace): `<stack>_<service>` must be a service name, so the
    service names' letters, digits, '-' and '_', starting and ending with a letter or digit."""
    if not isinstance(value, str) or not SERVICE_NAME.match(value) or len(value) > 61:
        raise ValueError(f"{value!r} is no stack name: letters, digits, '-' and '_', starting "
                         "and ending with a letter or digit")
    return value


def _compose_ref(value):
    if not isinstance(value, dict) or not {"file", "service"} <= set(value) \
            or set(value) - {"file", "service", "stack"} \
            or not all(isinstance(value[k], str) and value[k] for k in ("file", "service")):
        raise ValueError("must be {file: STACK-FILE, service: NAME} (and optionally "
                         "stack: NAME, the stack it belongs to)")
    if "stack" in value:
        stack_name(value["stack"])
    return dict(value)


JENKINS_SCHEMA = {
    "folder": names.check_folder,    # each part as Jenkins.checkGoodName allows
    "repo": nonempty,
    "branch": nonempty,
    "deploy_branches": string_list,
    "credentials": nonempty,
    "scm_credentials": names.check_credentials_id,   # the Git remote's credentials id
    # deploy.analysis' Prometheus and Pushgateway login, bound around deploy and rollback:
    # a Username with password credential, or a Secret text one holding a bearer token.
    "prometheus_credentials": names.check_credentials_id,
    "prometheus_token": names.check_credentials_id,
    "agent": nonempty,
    "timeout_minutes": whole_number(1),
}

# shipway's own run options, under `deploy` next to the compose deploy keys.
RUN_SCHEMA = {
    "timeout": duration,
    "with_registry_auth": boolean,
    "keep_releases": whole_number(1),
    "analysis": ANALYSIS_SCHEMA,     # releases judged by their traffic (analysis_keys.py)
}

# shipway's keys of a service entry; every other key is a stack-file (compose) service key
# (compose_keys.py). `image` is shipway's: the repository, no tag.
SERVICE_SCHEMA = {
    "image": _repository,
    "build": string,
    "workdir": string,
    "context": string,
    "dockerfile": nonempty,
    "build_args": string_map,
    "builder": choice("auto", "buildkit", "legacy"),
    "jenkins": JENKINS_SCHEMA,
    "compose": _compose_ref,
    "notify": Part(notify_keys.read, list),   # webhooks told what a deploy did
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

# What a service's settings start from (catalog.merge puts the catalog's over it).
DEFAULTS = {
    "dockerfile": "Dockerfile",
    "builder": "auto",
    "jenkins": {"branch": "main", "deploy_branches": ["main"], "agent": "any",
                "timeout_minutes": 30},
    "deploy": {"timeout": 300.0, "with_registry_auth": True, "keep_releases": 10},
    "image_ref": None,
    "notify": [],
    "source": "catalog",
    "stack": None,             # the stack a stack file's service is deployed in
    "service": {},
    "definitions": {kind: {} for kind in DEFINITION_KINDS},
    "warnings": [],
}
