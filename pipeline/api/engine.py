"""The connection to the Docker Engine and every Engine call the code above pipeline/api/
makes, each with its errors translated.

One client: docker-py's low-level `docker.APIClient` (`connect(environ).api`), used through its
public API; where it has no call, rest.py's request-level ones. Service specs are handled as
raw Engine API documents (dicts), so what shipway compares, records and sends is exactly what
the engine stores. Every function here raises errors.py's classes only (all EngineErrors: a
Refused whose line says what could not be done, its status kept; Unreachable / TimedOut when
the engine did not answer) or returns None where "not there" is an answer; errors.py's names
are re-exported, so callers need only `engine`.
"""
import base64

import docker
import docker.errors

from pipeline.api import auth, rest
from pipeline.api.errors import (  # noqa: F401 (re-exported: callers need only `engine`)
    EngineCallError,
    NotFoundError,
    Refused,
    TimedOut,
    Unreachable,
    api_error,
    call,
    engine_errors,
    is_out_of_sequence,
    is_transient,
    refusal,
    short,
    translated,
)
from pipeline.errors import EngineError, RegistryError

API_TIMEOUT = 60  # seconds per HTTP request to the engine
TASK_LOGS_TIMEOUT = 10  # the log broker asks the task's node, which may be down


def connect(environ):
    """A docker.DockerClient from DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH /
    DOCKER_CONFIG of `environ`; its `.api` is the APIClient every function here takes."""
    try:
        # "auto" asks the engine for its API version: that one call also proves it answers.
        client = docker.DockerClient.from_env(environment=environ, timeout=API_TIMEOUT,
                                              version="auto")
    except docker.errors.DockerException as exc:
        raise _unreachable(environ, exc) from None
    config_dir = environ.get("DOCKER_CONFIG")
    if config_dir:
        auth.use_config_dir(client.api, config_dir)
    return client


def _unreachable(environ, exc):
    host = environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    hint = "start dockerd or set DOCKER_HOST"
    if environ.get("DOCKER_TLS_VERIFY") or environ.get("DOCKER_CERT_PATH"):
        # With TLS asked for, a missing or wrong certificate is the likelier cause.
        hint = ("check DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem for this engine) "
                "and DOCKER_HOST")
    return EngineError(f"cannot reach the Docker Engine at {host}: {short(exc)}", hint=hint)


def _read(doing, fn, *args, **kwargs):
    """fn(...)'s answer; None for a 404; a refusal as a Refused saying `doing` first."""
    try:
        return call(fn, *args, **kwargs)
    except NotFoundError:
        return None
    except Refused as exc:
        raise refusal(exc, doing) from None


def info(api):
    """GET /info: the engine's own description (its swarm node id under Swarm.NodeID)."""
    return _read("cannot ask the engine for its info", api.info)


# --- services, tasks, nodes, networks ----------------------------------------------------

def inspect_service(api, name):
    """The service document, or None when there is no such service."""
    return _read(f"cannot inspect service {name}", api.inspect_service, name)


def _labelled(doing, lister, labels, labels_of):
    """What `lister` lists (asked by label filter) that carries all of `labels` ({key:
    value}), checked again on each item's labels (`labels_of(item)`)."""
    found = _read(doing, lister,
                  filters={"label": [f"{key}={value}" for key, value in labels.items()]}) or []
    return [item for item in found
            if all((labels_of(item) or {}).get(k) == v for k, v in labels.items())]


def _spec_labels(item):
    return item["Spec"].get("Labels")


def _own_labels(item):
    return item.get("Labels")


def list_services(api, labels):
    """Every service carrying all of `labels` ({key: value}), as the Engine lists them."""
    return _labelled("cannot list services", api.services, labels, _spec_labels)


def list_tasks(api, service_id):
    """All tasks of a service (the engine keeps a few dead ones per slot)."""
    return _read("cannot list the service's tasks", api.tasks,
                 filters={"service": service_id}) or []


def inspect_task(api, task_id):
    """The task document, or None when swarm no longer has it (pruned)."""
    return _read(f"cannot inspect task {task_id}", api.inspect_task, task_id)


def nodes(api):
    """The swarm's nodes."""
    return _read("cannot list the swarm's nodes", api.nodes) or []


def inspect_node(api, node_id):
    """The node document, or None when the swarm has no such node (any more)."""
    return _read(f"cannot inspect node {node_id}", api.inspect_node, node_id)


def inspect_network(api, name):
    """The network document (by name or id), or None when there is no such network."""
    return _read(f"cannot inspect network {name}", api.inspect_network, name)


def create_network(api, name, spec):
    """POST /networks/create of `name` with a raw NetworkCreate body (`spec`: Driver,
    Options, Labels, Internal, Attachable, IPAM); its id, or None when a network of that name
    exists (409: another run made it first)."""
    try:
        return rest.post_json(api, "/networks/create", body={"Name": name, **spec})["Id"]
    except Refused as exc:
        if exc.status_code == 409:
            return None
        raise refusal(exc, f"cannot create network {name}") from None


def list_networks(api, labels):
    """Every network carrying all of `labels` ({key: value}), as the Engine lists them."""
    return _labelled("cannot list networks", api.networks, labels, _own_labels)


def remove_network(api, network_id):
    """Remove a network: "removed", "in use" (a service or task still has it: swarm
    refuses) or "gone" (someone removed it first)."""
    try:
        call(api.remove_network, network_id)
    except NotFoundError:
        return "gone"
    except Refused as exc:
        if "in use" in exc.detail or "has active endpoints" in exc.detail:
            return "in use"
        raise refusal(exc, f"cannot remove network {network_id}") from None
    return "removed"


def list_volumes(api, labels):
    """Every volume carrying all of `labels`, as the Engine lists them (read, never removed:
    a volume is data)."""
    return _labelled("cannot list volumes",
                     lambda **kw: (api.volumes(**kw) or {}).get("Volumes"),
                     labels, _own_labels)


def _auth_headers(registry_auth):
    return {"X-Registry-Auth": registry_auth} if registry_auth else None


def create_service(api, spec, registry_auth=None):
    """POST /services/create with a raw spec; returns the new service id. Raises Refused
    (409 when the name is taken) and the other errors.py classes."""
    return rest.post_json(api, "/services/create", body=spec,
                          headers=_auth_headers(registry_auth))["ID"]


def update_service(api, service_id, version, spec, registry_auth=None, rollback=False):
    """POST /services/{id}/update of a raw spec; with rollback=True the engine restores
    PreviousSpec (`rollback=previous`: the docker CLI sends the current spec with it, and so
    do we). Returns the engine's warnings. Raises Refused ("update out of sequence" for a
    stale version) and the other errors.py classes."""
    params = {"version": version}
    if rollback:
        params["rollback"] = "previous"
    answer = rest.post_json(api, "/services/{0}/update", service_id, body=spec, params=params,
                            headers=_auth_headers(registry_auth)) or {}
    return answer.get("Warnings") or []


def remove_service(api, service_id):
    """DELETE /services/{id}."""
    call(api.remove_service, service_id)


def resolve_digest(api, reference, auth_config=None):
    """(digest, platforms) of `reference` as the registry serves it (the engine asks the
    registry): the manifest digest, and the platforms as a ServiceSpec's Placement lists them
    (what the docker client library puts on a service whose image it resolves)."""
    try:
        found = call(api.inspect_distribution, reference, auth_config=auth_config)
    except Refused as exc:
        raise RegistryError(f"cannot resolve {reference} in the registry: {short(exc)}",
                            hint="push it first, and check the registry credentials") from None
    platforms = [{"Architecture": p.get("architecture", ""), "OS": p.get("os", "")}
                 for p in found.get("Platforms") or []]
    return found["Descriptor"]["digest"], platforms or None


# --- images: build, tag, push (the image and push stages) ---------------------------------

def build(api, **kwargs):
    """docker-py's legacy-builder build (`api.build`, its keyword arguments, decode=True):
    the decoded chunks of its stream, errors translated, the stream's included."""
    with translated():
        yield from api.build(decode=True, **kwargs)


def tag(api, image, repository, tag):
    """Tag `image` as repository:tag. Raises errors.py's classes."""
    call(api.tag, image, repository, tag)


def push(api, repository, tag, auth_config):
    """docker-py's push of repository:tag: the decoded chunks of its stream, errors
    translated, the stream's included. docker-py does not raise on the stream's
    `errorDetail`: the caller reads it."""
    with translated():
        yield from api.push(repository, tag=tag, stream=True, decode=True,
                            auth_config=auth_config)


def inspect_image(api, reference):
    """The image document on this engine, or None when it has no such image."""
    return _read(f"cannot inspect image {reference}", api.inspect_image, reference)


def build_context(api, fileobj, labels):
    """Build the image of a tar build context (`fileobj`, its Dockerfile at the top) with
    the legacy builder; its id. Raises errors.py's classes, a failed build as a Refused."""
    image_id, problem = None, ""
    for chunk in build(api, fileobj=fileobj, custom_context=True, rm=True, labels=labels):
        problem = chunk.get("error") or problem
        image_id = (chunk.get("aux") or {}).get("ID") or image_id
    if problem or not image_id:
        raise EngineError(f"cannot build an image: {problem or 'the engine gave no image id'}")
    return image_id


def exec_in(api, container_id, argv):
    """Run `argv` in a container of this engine (`docker exec`): (exit code, stdout bytes,
    stderr bytes). Raises errors.py's classes (NotFoundError: no such container here)."""
    created = call(api.exec_create, container_id, argv, stdout=True, stderr=True)
    out, err = call(api.exec_start, created["Id"], demux=True)
    code = call(api.exec_inspect, created["Id"]).get("ExitCode")
    return code, out or b"", err or b""


# --- swarm secrets and configs (pipeline/swarm/objects.py, releases.py) -------------------
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
    found = _read(f"cannot look up {kind} {name}", _object_call(api, kind, "list"),
                  filters={"name": name}) or []
    return next((obj for obj in found if obj["Spec"]["Name"] == name), None)


def list_objects(api, kind, labels):
    """Every secret or config carrying all of `labels` ({key: value}), as the Engine lists them."""
    return _labelled(f"cannot list {kind}s", _object_call(api, kind, "list"), labels,
                     _spec_labels)


def list_configs(api, labels):
    """Every config carrying all of `labels`, as the Engine lists them."""
    return list_objects(api, "config", labels)


def config_data(api, config_id):
    """A config's content (bytes); configs, unlike secrets, are readable."""
    try:
        config = call(api.inspect_config, config_id)
    except Refused as exc:
        raise refusal(exc, f"cannot read config {config_id}") from None
    return base64.b64decode(config["Spec"].get("Data") or "")


def create_object(api, kind, name, data, labels, templating=None):
    """Create a secret or config; its id, or None when the name exists (another run won).
    `templating`: a template driver (`golang`) that renders the content in each task.

    `data` goes only into the request body; the Engine's error text never holds it, so the
    EngineError raised on a refusal is safe to print.
    """
    try:
        if templating:   # docker-py's create_secret takes no template driver
            body = {"Name": name, "Labels": labels or {}, "Templating": {"Name": templating},
                    "Data": base64.b64encode(data).decode("ascii")}
            return rest.post_json(api, f"/{kind}s/create", body=body)["ID"]
        return call(_object_call(api, kind, "create"), name, data, labels=labels)["ID"]
    except Refused as exc:
        if exc.status_code == 409:
            return None
        raise refusal(exc, f"cannot create {kind} {name}") from None


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
        raise refusal(exc, f"cannot remove {kind} {object_id}") from None
    return "removed"


# --- config objects as records: the deploy lock, the release history (pipeline/swarm/lock.py,
# releases.py). Config objects live in the managers' Raft store: a create is atomic across
# the swarm (409 when the name is taken), and an update names the version it was read at,
# so it is a compare-and-swap.

def create_config(api, name, data, labels):
    """Create config `name`; its id, or None when a config of that name exists (409)."""
    return create_object(api, "config", name, data, labels)


def inspect_config(api, name_or_id):
    """The config document (the daemon resolves names too), or None when there is none."""
    return _read(f"cannot inspect config {name_or_id}", api.inspect_config, name_or_id)


def update_config_labels(api, config, labels):
    """Replace config's labels at the version it was read at (swarm lets only labels change).
    True when written; False when the config is gone or another writer came first."""
    try:
        rest.post_json(api, "/configs/{0}/update", config["ID"],
                       body={**config["Spec"], "Labels": labels},
                       params={"version": config["Version"]["Index"]})
    except Refused as exc:
        if exc.status_code == 404 or is_out_of_sequence(exc):
            return False
        raise refusal(exc, f"cannot update config {config['Spec']['Name']}") from None
    return True


def remove_config(api, config_id):
    """DELETE /configs/{id}: True when removed, False when it was gone already."""
    try:
        call(api.remove_config, config_id)
    except NotFoundError:
        return False
    except Refused as exc:
        raise refusal(exc, f"cannot remove config {config_id[:12]}") from None
    return True


# --- best-effort reads (forensics, the watch's decoration): None when unreadable ----------

def service_tasks(api, service_id):
    """The service's tasks, or None when the engine cannot list them now."""
    try:
        return call(api.tasks, filters={"service": service_id})
    except EngineCallError:
        return None


def inspect_container(api, container_id):
    """The container document, or None when it is not on this engine (another node, removed)."""
    try:
        return call(api.inspect_container, container_id)
    except EngineCallError:
        return None


def container_log_tail(api, container_id, lines):
    """The last `lines` lines of a container's stdout and stderr, or None when unreadable."""
    try:
        raw = call(api.logs, container_id, stdout=True, stderr=True, tail=lines)
    except EngineCallError:
        return None
    return raw.decode("utf-8", "replace").splitlines()[-lines:]


def task_log_tail(api, task_id, lines):
    """The last `lines` log lines of a task on any node, through GET /tasks/{id}/logs: the
    swarm's log broker (what the service logs endpoint uses) fetches them from the task's node.
    None when unreadable (the node is down, the task pruned)."""
    try:
        data = rest.get_logs(api, "/tasks/{0}/logs", task_id,
                             params={"stdout": 1, "stderr": 1, "tail": lines},
                             timeout=TASK_LOGS_TIMEOUT)
    except EngineCallError:
        return None
    return data.decode("utf-8", "replace").splitlines()[-lines:]


# --- streams followed in a thread while a change is watched (follow.py) -------------------

def follow_events(api, since, filters):
    """GET /events from `since` (epoch seconds) on, `filters` as docker-py takes them: a
    docker.types.CancellableStream of the events (dicts). docker-py checks the answer's status
    only once the stream is read: an error status surfaces then, as docker.errors.APIError
    (translate it there)."""
    return call(api.events, since=since, filters=filters, decode=True)


def follow_service_logs(api, service_id, since):
    """GET /services/{id}/logs?follow=1&details=1 from `since` on, what `docker service
    logs -f` does: a CancellableStream of the log's payloads (see rest.follow_logs)."""
    return rest.follow_logs(api, "/services/{0}/logs", service_id, params={
        "details": 1, "follow": 1, "stdout": 1, "stderr": 1, "since": since})
