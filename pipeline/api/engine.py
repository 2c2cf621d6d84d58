"""Connections to the Docker Engine and the Engine API calls the swarm commands make.

Service specs are handled as raw Engine API documents (dicts), so what shipway compares,
records and sends is exactly what the engine stores. `open_client` connects the swarm
commands through the stdlib client (pipeline/api/http.py); `connect` gives docker-py's
DockerClient to build, image and push. The functions below take either (`api`: an http.Client,
an sdk.SDKEngine, or a bare docker-py APIClient, adapted by sdk.adapted for the generic calls),
so there is one code path. Errors are translated in pipeline/api/errors.py; its names are
re-exported here, so callers need only `engine`.
"""
from pipeline.api import auth
from pipeline.api.errors import (  # noqa: F401 (re-exported: callers need only `engine`)
    EngineCallError,
    NotFoundError,
    Refused,
    TimedOut,
    Unreachable,
    api_error,
    call,
    connection_errors,
    engine_errors,
    is_out_of_sequence,
    is_transient,
    quiet_errors,
    short,
    translated,
)
from pipeline.errors import EngineError

API_TIMEOUT = 60  # seconds per HTTP request to the engine


def connect(environ):
    """A docker.DockerClient from DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH /
    DOCKER_CONFIG."""
    import docker
    from docker.errors import DockerException

    try:
        # "auto" asks the engine for its API version: that one call also proves it answers.
        client = docker.DockerClient.from_env(environment=environ, timeout=API_TIMEOUT,
                                              version="auto")
    except DockerException as exc:
        raise _unreachable(environ, exc) from None
    config_dir = environ.get("DOCKER_CONFIG")
    if config_dir:
        auth.use_config_dir(client.api, config_dir)
    return client


def open_client(environ):
    """The Engine connection of the swarm commands (deploy, rollback, status, remove, unlock,
    releases): pipeline/api/http.py's client for unix and tcp hosts, docker-py's (adapted,
    see sdk.py) for the ones it does not speak (ssh://). Same errors as `connect`."""
    from pipeline.api import http

    try:
        client = http.open_client(environ, API_TIMEOUT)
    except (ValueError, OSError, *connection_errors(), http.HTTPStatusError) as exc:
        raise _unreachable(environ, exc) from None
    if client is None:
        from pipeline.api import sdk

        return sdk.SDKEngine(connect(environ).api)
    return client


def _unreachable(environ, exc):
    host = environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    hint = "start dockerd or set DOCKER_HOST"
    if environ.get("DOCKER_TLS_VERIFY") or environ.get("DOCKER_CERT_PATH"):
        # With TLS asked for, a missing or wrong certificate is the likelier cause.
        hint = ("check DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem for this engine) "
                "and DOCKER_HOST")
    return EngineError(f"cannot reach the Docker Engine at {host}: {short(exc)}", hint=hint)


def _raw(api):
    from pipeline.api import sdk

    return sdk.adapted(api)


def inspect_service(api, name):
    """The service document, or None when there is no such service."""
    try:
        return call(api.inspect_service, name)
    except NotFoundError:
        return None
    except Refused as exc:
        raise api_error(exc, f"cannot inspect service {name}") from None


def list_tasks(api, service_id):
    """All tasks of a service (the engine keeps a few dead ones per slot)."""
    try:
        return call(api.tasks, filters={"service": service_id})
    except Refused as exc:
        raise api_error(exc, "cannot list the service's tasks") from None


def _auth_headers(registry_auth):
    return {"X-Registry-Auth": registry_auth} if registry_auth else {}


def create_service(api, spec, registry_auth=None):
    """POST /services/create with a raw spec; returns the new service id. Raises Refused
    (409 when the name is taken) and the other errors.py classes."""
    with translated():
        return _raw(api).post_json("/services/create", data=spec,
                                   headers=_auth_headers(registry_auth))["ID"]


def update_service(api, service_id, version, spec, registry_auth=None, rollback=False):
    """POST /services/{id}/update; with rollback=True the engine restores PreviousSpec.

    docker-py has no call for `rollback=previous`; the docker CLI sends the current spec with
    it, and so do we. Returns the engine's warnings. Raises Refused ("update out of
    sequence" for a stale version) and the other errors.py classes.
    """
    params = {"version": version}
    if rollback:
        params["rollback"] = "previous"
    with translated():
        body = _raw(api).post_json("/services/{0}/update", service_id, data=spec,
                                   params=params, headers=_auth_headers(registry_auth)) or {}
    return body.get("Warnings") or []


def remove_service(api, service_id):
    """DELETE /services/{id}."""
    call(api.remove_service, service_id)


def resolve_digest(api, reference, auth_config=None):
    """(digest, platforms) of `reference` as the registry serves it (the engine asks the
    registry): the manifest digest, and the platforms as a ServiceSpec's Placement lists them
    (what the docker client library puts on a service whose image it resolves)."""
    from pipeline.errors import RegistryError

    try:
        found = call(api.inspect_distribution, reference, auth_config=auth_config)
    except Refused as exc:
        raise RegistryError(f"cannot resolve {reference} in the registry: {short(exc)}",
                            hint="push it first, and check the registry credentials") from None
    platforms = [{"Architecture": p.get("architecture", ""), "OS": p.get("os", "")}
                 for p in found.get("Platforms") or []]
    return found["Descriptor"]["digest"], platforms or None


# --- swarm secrets and configs (pipeline/swarm/objects.py) -----------------------------------
# `kind` is "secret" or "config": the two APIs are twins in docker-py and in the Engine.

def _object_call(api, kind, action):
    """docker-py's `secrets` / `create_secret` / `remove_secret` or the config twin."""
    if kind not in ("secret", "config"):
        raise ValueError(f"unknown object kind {kind!r}")
    return getattr(api, f"{kind}s" if action == "list" else f"{action}_{kind}")


def find_object(api, kind, name):
    """The secret or config named exactly `name` as the Engine lists it, or None.

    The Engine's `name` filter matches prefixes, so the exact name is checked here.
    """
    try:
        found = call(_object_call(api, kind, "list"), filters={"name": name})
    except Refused as exc:
        raise api_error(exc, f"cannot look up {kind} {name}") from None
    return next((obj for obj in found if obj["Spec"]["Name"] == name), None)


def list_objects(api, kind, labels):
    """Every secret or config carrying all of `labels` ({key: value}), as the Engine lists them."""
    try:
        found = call(_object_call(api, kind, "list"),
                     filters={"label": [f"{key}={value}" for key, value in labels.items()]})
    except Refused as exc:
        raise api_error(exc, f"cannot list {kind}s") from None
    return [obj for obj in found
            if all((obj["Spec"].get("Labels") or {}).get(k) == v for k, v in labels.items())]


def config_data(api, config_id):
    """A config's content (bytes); configs, unlike secrets, are readable."""
    import base64

    try:
        return base64.b64decode(call(api.inspect_config, config_id)["Spec"].get("Data") or "")
    except Refused as exc:
        raise api_error(exc, f"cannot read config {config_id}") from None


def create_object(api, kind, name, data, labels):
    """Create a secret or config; its id, or None when the name exists (another run won).

    `data` goes only into the request body; the Engine's error text never holds it, so the
    EngineError raised on a refusal is safe to print.
    """
    try:
        return call(_object_call(api, kind, "create"), name, data, labels=labels)["ID"]
    except Refused as exc:
        if exc.status_code == 409:
            return None
        raise api_error(exc, f"cannot create {kind} {name}") from None


def remove_object(api, kind, object_id):
    """Remove a secret or config: "removed", "in use" (a service's spec refers to it: the
    Engine refuses) or "gone" (someone removed it first)."""
    try:
        call(_object_call(api, kind, "remove"), object_id)
    except NotFoundError:
        return "gone"
    except Refused as exc:
        if exc.status_code == 400 and "in use" in exc.detail:
            return "in use"
        raise api_error(exc, f"cannot remove {kind} {object_id}") from None
    return "removed"


# --- the deploy lock's config object and failure forensics (pipeline/swarm/lock.py,
# pipeline/swarm/forensics.py). Config objects live in the managers' Raft store: a create is
# atomic across the swarm (409 when the name is taken), and an update names the version it
# was read at, so it is a compare-and-swap.

def create_config(api, name, data, labels):
    """Create config `name`; its id, or None when a config of that name exists (409)."""
    try:
        return call(api.create_config, name, data, labels=labels)["ID"]
    except Refused as exc:
        if exc.status_code == 409:
            return None
        raise api_error(exc, f"cannot create config {name}") from None


def inspect_config(api, name_or_id):
    """The config document (the daemon resolves names too), or None when there is none."""
    try:
        return call(api.inspect_config, name_or_id)
    except NotFoundError:
        return None
    except Refused as exc:
        raise api_error(exc, f"cannot inspect config {name_or_id}") from None


def update_config_labels(api, config, labels):
    """Replace config's labels at the version it was read at (swarm lets only labels change).
    True when written; False when the config is gone or another writer came first."""
    spec = {**config["Spec"], "Labels": labels}
    try:
        with translated():
            _raw(api).post_json("/configs/{0}/update", config["ID"], data=spec,
                                params={"version": config["Version"]["Index"]})
    except Refused as exc:
        if exc.status_code == 404 or is_out_of_sequence(exc):
            return False
        raise api_error(exc, f"cannot update config {config['Spec']['Name']}") from None
    return True


def remove_config(api, config_id):
    """DELETE /configs/{id}: True when removed, False when it was gone already."""
    try:
        call(api.remove_config, config_id)
    except NotFoundError:
        return False
    except Refused as exc:
        raise api_error(exc, f"cannot remove config {config_id[:12]}") from None
    return True


def service_tasks(api, service_id):
    """The service's tasks, or None when the engine cannot list them now (best effort)."""
    try:
        return api.tasks(filters={"service": service_id})
    except quiet_errors():
        return None


def inspect_container(api, container_id):
    """The container document, or None when it is not on this engine (another node, removed)."""
    try:
        return api.inspect_container(container_id)
    except quiet_errors():
        return None


def container_log_tail(api, container_id, lines):
    """The last `lines` lines of a container's stdout and stderr, or None when unreadable."""
    try:
        raw = api.logs(container_id, stdout=True, stderr=True, tail=lines)
    except quiet_errors():
        return None
    return raw.decode("utf-8", "replace").splitlines()[-lines:]


def task_log_tail(api, task_id, lines):
    """The last `lines` log lines of a task on any node, through GET /tasks/{id}/logs: the
    swarm's log broker (what the service logs endpoint uses) fetches them from the task's node.
    None when unreadable (the node is down, the task pruned)."""
    from pipeline.api.calls import demux

    try:
        data = _raw(api).get_bytes("/tasks/{0}/logs", task_id,
                                   params={"stdout": 1, "stderr": 1, "tail": lines}, timeout=10)
    except quiet_errors():
        return None
    return demux(data).decode("utf-8", "replace").splitlines()[-lines:]

