"""The read step of `shipway promote`: what its plan (promote_plan.py) is a function of, read
from the source environment's engine: the service, its tasks and its release history; and,
for a registry copy, whether each environment's engine talks to a registry without TLS."""
import socket
from dataclasses import dataclass, field
from typing import Optional

from pipeline.api import engine
from pipeline.swarm import promote_plan
from pipeline.swarm import releases as history


@dataclass
class Source:
    """Service `name` as its engine shows it (None: there is none), its tasks (the engine
    keeps a few dead ones per slot) and its releases, newest first."""

    name: str
    service: Optional[dict]
    tasks: list = field(default_factory=list)
    releases: list = field(default_factory=list)


def read(api, name):
    """The Source of service `name` on `api`'s engine."""
    service = engine.inspect_service(api, name)
    if service is None:
        return Source(name, None)
    return Source(name, service, engine.list_tasks(api, service["ID"]),
                  history.history(api, name))


def registry_insecure(api, registry):
    """True when the engine of `api` talks to `registry` without verifying TLS (plain HTTP
    allowed): its own configuration (GET /info RegistryConfig), with the registry's host
    resolved here, as the engine resolves it on its machine (a host name that does not
    resolve here is judged by its IndexConfigs entry alone)."""
    config = (engine.info(api) or {}).get("RegistryConfig") or {}
    host = promote_plan.registry_host(registry)
    try:
        addresses = sorted({found[4][0] for found in socket.getaddrinfo(host, None)})
    except (OSError, UnicodeError):
        addresses = []
    return promote_plan.insecure(config, registry, addresses)
