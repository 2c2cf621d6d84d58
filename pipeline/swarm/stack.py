"""The stack a service of a stack file belongs to, and what `docker stack deploy` makes in it.

A stack names its objects in its namespace: `<stack>_<name>` (docker/cli 20.10
cli/compose/convert Namespace.Scope), labelled `com.docker.stack.namespace=<stack>`. For a
service taken from a stack file (`compose: {file:, service:}`, or a group's stack) the names
of the volumes it mounts and of the networks it joins are the stack's: a volume `db-data` is
`shop_db-data`, with the namespace label among its volume options; a network the file defines
(not external) is `shop_backend`, created as stack deploy creates it when it does not exist
(driver overlay unless the file says otherwise, the file's labels and the namespace label,
driver_opts, ipam, internal, attachable); a service with no networks joins `shop_default`. A
definition's own `name`, and an external object, keep their names, as with stack deploy.

The namespace of a deploy (`namespace`):
1. the service's own `com.docker.stack.namespace` label, when it runs already: adopting a
   service a stack made keeps its volumes (`mon_grafana`, not an empty `grafana`);
2. else the stack the request names: the catalog entry's `compose.stack`, or a group's;
3. else none, and every name is the file's own: volumes and networks are named as the file
   names them (`db-data`), and no default network is joined. This keeps what an earlier
   shipway made (a service deployed from a stack file before stacks were known here mounts
   `db-data`: moving it to `<stack>_db-data` would start it on an empty volume), and it is
   what `docker service create --mount source=db-data` does; a new service goes into a stack
   only when asked (compose.stack), not by a name guessed from something that may change.
   The deploy says so in one line (`unscoped_note`).
A request naming one stack for a service that carries another's label is refused.

Pure: what exists is read by deploy_read; the creation is a write of the plan (CreateNetwork).
"""
from pipeline.catalog.compose_defs import DEFAULT_NETWORK
from pipeline.errors import UsageError
from pipeline.swarm.writes import CreateNetwork

NAMESPACE_LABEL = "com.docker.stack.namespace"   # what docker stack deploy labels with
DEFAULT_DRIVER = "overlay"                         # stack deploy's driver for a network


def namespace(name, current, given):
    """The stack namespace service `name` is deployed in (see the module doc): `current` is
    the service as the Engine returns it (or None), `given` the stack the request names (or
    None). UsageError (key compose.stack) when the two disagree."""
    labels = ((current or {}).get("Spec") or {}).get("Labels") or {}
    running = labels.get(NAMESPACE_LABEL)
    if running and given and running != given:
        raise UsageError(f"service {name} belongs to stack {running} (its {NAMESPACE_LABEL} "
                         f"label), not {given}: its volumes and networks are {running}'s",
                         key="compose.stack",
                         hint=f"set compose.stack: {running}, or deploy it under another name")
    return running or given or None


def scoped(space, key, definition):
    """The engine's name of the volume or network `key` a stack file defines: its `name`;
    an external one's key; else `<space>_<key>` (the key alone with no namespace)."""
    definition = definition or {}
    if definition.get("name"):
        return definition["name"]
    if definition.get("external") or not space:
        return key
    return f"{space}_{key}"


def attached(service, definitions, space):
    """The service's networks {key: attachment} that it joins: all, but the stack's default
    network when there is no namespace to name it in (and the file does not define it)."""
    networks = service.get("networks", {})
    defined = (definitions or {}).get("networks", {})
    return {key: attach for key, attach in networks.items()
            if key != DEFAULT_NETWORK or key in defined or space}


def network_names(service, definitions, space=None):
    """{network key in the service: the engine's network name} for the networks it joins."""
    defined = (definitions or {}).get("networks", {})
    # A network no definition names is an existing one (a catalog's), but the stack's default
    return {key: scoped(space, key, defined.get(key, {"external": key != DEFAULT_NETWORK}))
            for key in attached(service, definitions, space)}


def to_create(key, definitions):
    """True when network `key` is one stack deploy creates: defined in the file and not
    external, or the stack's undefined `default`."""
    defined = (definitions or {}).get("networks", {})
    if key not in defined:
        return key == DEFAULT_NETWORK
    return not defined[key].get("external", True)


def network_spec(definition, space):
    """The Engine's NetworkCreate body for a network a stack file defines, as stack deploy
    sends it (convert.Networks, then the overlay driver when none is given)."""
    definition = definition or {}
    labels = {**(definition.get("labels") or {}), **object_labels(space)}
    body = {"Driver": definition.get("driver") or DEFAULT_DRIVER,
            "Options": dict(definition.get("driver_opts") or {}), "Labels": labels,
            "Internal": bool(definition.get("internal")),
            "Attachable": bool(definition.get("attachable"))}
    ipam = definition.get("ipam") or {}
    if ipam.get("driver") or ipam.get("config"):
        body["IPAM"] = {"Driver": ipam.get("driver", ""),
                        "Config": [{"Subnet": pool["subnet"]} for pool in ipam.get("config", [])]}
    return body


def network_writes(service, definitions, space, found):
    """A CreateNetwork for each network the service joins that the file has stack deploy
    create and that does not exist (`found`: engine name -> id or None); one that exists is
    used as it is."""
    writes = []
    names = network_names(service, definitions, space)
    for key, name in sorted(names.items(), key=lambda pair: pair[1]):
        if found.get(name) is None and to_create(key, definitions) \
                and name not in [w.name for w in writes]:
            spec = network_spec((definitions or {}).get("networks", {}).get(key), space)
            writes.append(CreateNetwork(name, spec, doing=f"creating network {name}: "
                                                          f"{describe(spec)}"))
    return writes


def describe(spec):
    """One line of a network's create body: `driver overlay, attachable, labels {...}`."""
    parts = [f"driver {spec['Driver']}"]
    parts += [word for word in ("internal", "attachable") if spec.get(word.capitalize())]
    for key, what in (("Options", "options"), ("Labels", "labels")):
        if spec.get(key):
            parts.append(f"{what} {dict(sorted(spec[key].items()))}")
    if spec.get("IPAM"):
        parts.append(f"ipam {spec['IPAM']}")
    return ", ".join(parts)


def label_fields(space):
    """The service and container labels stack deploy sets for its namespace (none without
    one)."""
    if not space:
        return {}
    return {("Labels", NAMESPACE_LABEL): space,
            ("TaskTemplate", "ContainerSpec", "Labels", NAMESPACE_LABEL): space}


def object_labels(space):
    """The labels stack deploy puts on what it makes in a stack (networks, volumes, secrets,
    configs): its namespace; none without one."""
    return {NAMESPACE_LABEL: space} if space else {}


def unscoped_note(name, service, definitions):
    """The line a deploy of a stack file's service with no namespace says: the names stack
    deploy would put in a stack that keep the file's own (None when there are none)."""
    defined = definitions or {}
    volumes = sorted({v["source"] for v in service.get("volumes", [])
                      if v["type"] == "volume" and v.get("source")
                      and not _named(defined.get("volumes", {}).get(v["source"]))})
    networks = sorted(key for key in service.get("networks", {})
                      if key != DEFAULT_NETWORK and to_create(key, defined)
                      and not _named(defined["networks"][key]))
    default = DEFAULT_NETWORK in service.get("networks", {}) and \
        DEFAULT_NETWORK not in defined.get("networks", {})
    if not (volumes or networks or default):
        return None
    kept = [f"volume {v}" for v in volumes] + [f"network {n}" for n in networks]
    text = f"service {name} is in no stack: "
    if kept:
        text += f"{', '.join(kept)} keep{'s' if len(kept) == 1 else ''} the file's name" \
                f"{'' if len(kept) == 1 else 's'} (docker stack deploy: <stack>_NAME)"
    if default:
        text += ("; " if kept else "") + "it joins no default network (docker stack " \
                                         "deploy: <stack>_default)"
    return text + "; set compose.stack: NAME to deploy it into a stack"


def _named(definition):
    """True when a definition names its object itself (`name`, or external): no namespace."""
    return bool(definition and (definition.get("name") or definition.get("external")))
