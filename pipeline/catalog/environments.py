"""`environments:`, the catalog's top-level list of where a service runs (staging,
production, ...), in promotion order, and the per-service `environments:` entries that
change a service's keys in one of them.

    environments:
      staging:    {docker_host: unix:///var/run/docker.sock, registry: 127.0.0.1:5000}
      production: {docker_host: tcp://prod:2376, approval: {submitter: ops, timeout: 1d}}
    services:
      hello:
        environments:
          staging: {name: hello-staging, deploy: {replicas: 1}}

A catalog without `environments:` is one environment: the engine DOCKER_HOST names.
"""
import re
from dataclasses import dataclass
from typing import Optional

from pipeline import imageref
from pipeline.catalog.schema import walk
from pipeline.catalog.values import duration
from pipeline.jobs import names

# Lower case, as a Jenkins stage, a variable suffix (DOCKER_CERT_PATH_PRODUCTION) and a
# file name all carry it. `all` is what `status --environment all` asks for.
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
ENVIRONMENT_NAME_RULE = ("environment names are lower-case letters, digits and '-', starting "
                         "with a letter, at most 31 characters; 'all' is reserved")
RESERVED = ("all",)
HOST_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://")
_DAYS = re.compile(r"^(\d+)d(.*)$")


@dataclass(frozen=True)
class Approval:
    """A gate before an environment: who may approve, how long the build waits."""

    submitter: Optional[str] = None   # Jenkins user or group ids, comma-separated
    timeout: float = 86400.0          # seconds; then the build is aborted


@dataclass(frozen=True)
class Environment:
    """One place a service runs: its engine, its registry, its Jenkins credentials."""

    name: str
    docker_host: Optional[str] = None   # else DOCKER_HOST, as the docker CLI
    registry: Optional[str] = None      # where its nodes pull from (promote copies there)
    credentials: Optional[str] = None   # Jenkins id of a Docker client certificate
    approval: Optional[Approval] = None

    @property
    def variable_suffix(self):
        """`_PRODUCTION`: what this environment's own variables end with."""
        return "_" + self.name.upper().replace("-", "_")


def _docker_host(value):
    if not isinstance(value, str) or not value.startswith(HOST_SCHEMES):
        schemes = ", ".join(scheme + "..." for scheme in HOST_SCHEMES)
        raise ValueError(f"must be an engine address ({schemes})")
    if "@" in value.split("://", 1)[1].split("/", 1)[0] and not value.startswith("ssh://"):
        raise ValueError("must not hold credentials (bind the client certificate instead)")
    return value


def _approval_timeout(value):
    """A duration, with `d` for days too (1d, 1d12h): approvals wait days, not seconds."""
    days = 0
    if isinstance(value, str):
        match = _DAYS.match(value.strip())
        if match:
            days, value = int(match.group(1)), match.group(2) or 0
    seconds = duration(value) + days * 86400
    if seconds < 1:
        raise ValueError("must be at least 1s")
    return seconds


def _submitter(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be Jenkins user or group ids, comma-separated")
    return ",".join(part.strip() for part in value.split(",") if part.strip())


APPROVAL_SCHEMA = {"submitter": _submitter, "timeout": _approval_timeout}
ENVIRONMENT_SCHEMA = {
    "docker_host": _docker_host,
    "registry": imageref.check_registry,
    "jenkins": {"credentials": names.check_credentials_id},
    "approval": APPROVAL_SCHEMA,
}


def read(raw, fail):
    """The catalog's `environments:` as Environment objects, in promotion order; {} when the
    catalog has none. `fail(key, message)` raises."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        fail("environments", "must be a mapping of environment names to their settings")
    out = {}
    for name, entry in raw.items():
        if not isinstance(name, str) or not ENVIRONMENT_NAME.match(name) or name in RESERVED:
            fail(f"environments.{name}", ENVIRONMENT_NAME_RULE)
        keys = walk(ENVIRONMENT_SCHEMA, entry if entry is not None else {}, fail,
                    f"environments.{name}.")
        if name == next(iter(raw)) and "approval" in keys:
            fail(f"environments.{name}.approval", "the first environment has no gate before "
                 "it: builds deploy to it directly (put the approval on a later one)")
        approval = keys.get("approval")
        out[name] = Environment(
            name=name, docker_host=keys.get("docker_host"), registry=keys.get("registry"),
            credentials=(keys.get("jenkins") or {}).get("credentials"),
            approval=Approval(**approval) if approval is not None else None)
    return out


def service_entries(entry, environments, fail):
    """A service entry's `environments:` checked against the catalog's: name -> (swarm
    service name or None, the keys that change there). `fail(key, message)` raises."""
    raw = entry.get("environments")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        fail("environments", "must be a mapping of environment names to service keys")
    out = {}
    for env, keys in raw.items():
        if env not in environments:
            known = ", ".join(environments) or "none: add a top-level 'environments:'"
            fail(f"environments.{env}", f"is not an environment of the catalog (environments: "
                 f"{known})")
        if not isinstance(keys if keys is not None else {}, dict):
            fail(f"environments.{env}", "must be a mapping of service keys")
        keys = dict(keys or {})
        if "environments" in keys:
            fail(f"environments.{env}.environments", "environments do not nest")
        out[env] = (keys.pop("name", None), keys)
    return out
