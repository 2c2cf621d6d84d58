"""The writes a plan makes, as types: what pipeline/swarm/execute.py carries out, in order.

Each write carries the lines reported before it is made (`doing`) and after (`done`); a plan
decides them as it decides the write. A service
write is a compare-and-swap: an update names the version it was planned from, and swarm
refuses it ("update out of sequence") when the service changed since; then the deploy reads
again and plans again (execute.retried).
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CreateObject:
    """Create a secret or config a service needs (an objects.Wanted; its content sealed)."""

    wanted: object
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class CreateNetwork:
    """Create network `name` with `spec` (the Engine's NetworkCreate body), as docker stack
    deploy creates the networks of a stack file (pipeline/swarm/stack.py); one made meanwhile
    by another run is used as it is."""

    name: str
    spec: dict
    doing: str = ""
    done: str = ""

    def summary(self):
        """JSON-ready, for a dry run."""
        return {"name": self.name, **self.spec}


@dataclass(frozen=True)
class CreateNamingKey:
    """Create the swarm's key of secret names (objects.naming_key): the names of the secrets
    depend on it, so a plan that needs it is planned again once it exists."""

    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class CreateService:
    """Create the service with `spec`."""

    spec: dict
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class UpdateService:
    """Write `spec` to the service at `version` (the one it was planned from). rollback:
    swarm's own `rollback=previous` (the spec sent is the current one, as the docker CLI
    does)."""

    service_id: str
    version: int
    spec: dict
    rollback: bool = False
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class ReleaseRest:
    """The second write of a rollout judged by analysis, once the canary passed: the service
    as read then, with `update_config` (the user's own) instead of the canary's hold, so that
    swarm rolls out the rest; not when another change replaced `image` meanwhile. It depends
    on that read: canary.rest_write turns it into the UpdateService to make. `labels`: put
    on the spec with it (`shipway continue`: who approved the rest)."""

    image: str
    update_config: dict
    labels: dict = field(default_factory=dict)
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class LabelRelease:
    """Put `labels` on the record of `release` (a Release), keeping its others: what a
    rollback says on the release it left (releases.rolled_back_labels)."""

    release: object
    labels: dict
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class RemoveService:
    """Remove the service."""

    service_id: str
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class RemoveRecords:
    """Remove every release record of service `name` (`count` of them)."""

    name: str
    count: int
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class RemoveObjects:
    """Remove the secrets and configs shipway made for service `name` that nothing uses,
    again for up to `settle` seconds while a stopping container still holds them."""

    name: str
    settle: float = 30.0
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class RemoveGroupRecords:
    """Remove every group release record of group `key` (`count` of them; the key is the
    group's, with its environment when it has one)."""

    key: str
    count: int
    doing: str = ""
    done: str = ""


@dataclass(frozen=True)
class RemoveStackObject:
    """Remove a network, config or secret a stack's namespace labels (`kind`, its id and
    name), again for up to `settle` seconds while the engine says it is in use: the tasks of
    the services just removed hold it until swarm has shut them down."""

    kind: str
    object_id: str
    name: str
    settle: float = 30.0
    doing: str = ""
    done: str = ""
