"""The read step of a deploy: what the plan is a function of, read from the engine (and the
secret and config sources the request names, read from files and the environment)."""
from dataclasses import dataclass, field
from typing import Optional

from pipeline.api import engine
from pipeline.errors import UsageError
from pipeline.swarm import jobrun, objects, stack
from pipeline.swarm import releases as history

DRY_RUN_KEY = b"dry-run"   # names secrets when the swarm has no naming key yet (all are new)


@dataclass
class Reading:
    """The service (None: there is none), its release history (read whether or not the
    service exists: it outlives `docker service rm`), the stack namespace it is deployed in
    (stack.namespace; None: none), the ids of the networks the keys name by the names they
    have in it (None: no such network), whether the swarm has the key of secret names, the
    secrets and configs the keys need (objects.Wanted) and the ids of those that exist, and
    the configs that exist with other content."""

    current: Optional[dict]
    releases: list
    networks: dict = field(default_factory=dict)
    namespace: Optional[str] = None
    has_key: bool = True
    wanted: list = field(default_factory=list)
    found: dict = field(default_factory=dict)       # (kind, name) -> id
    other_content: list = field(default_factory=list)   # config names
    tasks: list = field(default_factory=list)       # a job service's tasks


def read(api, request):
    """The Reading of `request` (a DeployRequest). A bad secret or config definition (a
    missing file, an unset variable) is a UsageError naming `secrets` or `configs`."""
    current = engine.inspect_service(api, request.name)
    space = namespace(request, current)
    names = stack.network_names(request.service, request.definitions, space)
    networks = {}
    for network in sorted(set(names.values())):
        found = engine.inspect_network(api, network)
        networks[network] = found["Id"] if found else None
    reading = Reading(current, history.history(api, request.name), networks, space)
    if current is not None and jobrun.is_job(current["Spec"]):
        reading.tasks = engine.list_tasks(api, current["ID"])
    _read_objects(api, request, reading)
    return reading


def namespace(request, current):
    """The stack namespace of a service from a stack file (stack.namespace); None for a
    catalog entry's, which names its volumes and networks itself."""
    if not request.compose_service:
        return None
    return stack.namespace(request.name, current, request.stack)


def _read_objects(api, request, reading):
    used = {kind: [ref["source"] for ref in request.service.get(kind + "s", [])]
            for kind in objects.KINDS}
    key = objects.naming_key(api, create=False) if used["secret"] else None
    reading.has_key = key is not None or not used["secret"]
    for kind, sources in used.items():
        if not sources:
            continue
        try:
            reading.wanted += objects.plan(
                request.name, kind, request.definitions.get(kind + "s", {}), sources,
                request.base_dir, request.environ,
                key=(key or DRY_RUN_KEY) if kind == "secret" else None,
                labels=stack.object_labels(reading.namespace))
        except UsageError as exc:
            exc.context.setdefault("key", kind + "s")   # the stage names the catalog key
            raise
    for item in reading.wanted:
        found = engine.find_object(api, item.kind, item.name)
        if found is None:
            continue
        reading.found[(item.kind, item.name)] = found["ID"]
        if item.kind == "config" and not item.external and \
                engine.config_data(api, found["ID"]) != item.content.reveal():
            reading.other_content.append(item.name)
