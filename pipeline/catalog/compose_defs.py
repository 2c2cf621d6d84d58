"""Top-level definitions of a catalog or stack file (secrets, configs, networks, volumes) and
the checks across a service's keys that no single key shows."""
import os

from pipeline.catalog.compose_keys import JOB_MODES, NO_VALUE
from pipeline.catalog.schema import walk
from pipeline.catalog.values import boolean, mapping, text

DEFINITION_KINDS = ("secrets", "configs", "networks", "volumes")
DEFAULT_NETWORK = "default"   # a stack file service with no networks is attached to it


def check_service(service, fail):
    """Checks across keys of a merged, normalised service (what no single key shows)."""
    deploy = service.get("deploy", {})
    if deploy.get("mode") in ("global", "global-job") and "replicas" in deploy:
        fail("deploy.replicas", "can only be used with deploy.mode replicated or replicated-job")
    if deploy.get("mode") == "global-job" and \
            "max_replicas_per_node" in deploy.get("placement", {}):
        fail("deploy.placement.max_replicas_per_node",
             "can only be used with deploy.mode replicated or replicated-job")
    if deploy.get("mode") in JOB_MODES:
        for key in ("update_config", "rollback_config"):
            if key in deploy:
                # the engine refuses it ("Jobs may not have an update config"), and the
                # docker CLI both: a job's run is not rolled out, it is run again
                fail(f"deploy.{key}", f"is not supported for a {deploy['mode']} service (a "
                     "job is run again, not rolled out): remove it")
    health = service.get("healthcheck", {})
    if health.get("disable") and health.get("test"):
        fail("healthcheck.disable", "test and disable can't be set at the same time")
    check_endpoint(service, fail)


def check_endpoint(service, fail, endpoint_mode=None, why="", ports=()):
    """The engine refuses ingress ports on a dnsrr endpoint. The endpoint is the service's
    deploy.endpoint_mode, else `endpoint_mode` (the running service's, or a create's default,
    which `why` names); the ports are its `ports`, else `ports` (the running service's
    EndpointSpec.Ports, as the Engine returns them)."""
    keyed = "endpoint_mode" in service.get("deploy", {})
    if (service["deploy"]["endpoint_mode"] if keyed else endpoint_mode) != "dnsrr":
        return
    if "ports" in service:
        for i, port in enumerate(service["ports"]):
            if port["mode"] == "ingress":
                fail(f"ports[{i}].mode", "ingress cannot be used with endpoint mode dnsrr"
                     f"{'' if keyed else why}: publish with mode: host, or set "
                     "deploy.endpoint_mode: vip")
        return
    for port in ports:
        if port.get("PublishMode", "ingress") == "ingress":
            fail("deploy.endpoint_mode", f"dnsrr cannot be used with the ingress port "
                 f"{port.get('PublishedPort', port.get('TargetPort'))} the service publishes: "
                 "set ports with mode: host too, or keep endpoint mode vip")


def _external(value):
    # `external: true`, or the deprecated `external: {name: x}` (its name becomes `name`).
    if isinstance(value, bool):
        return {"external": value}
    if isinstance(value, dict) and set(value) <= {"name"}:
        return {"external": True, **({"name": text(value["name"])} if "name" in value else {})}
    raise ValueError("must be true or false")


def _ipam_config(value):
    # stack files (3.x) give each pool a subnet and nothing else
    if not isinstance(value, list) or not all(
            isinstance(item, dict) and set(item) <= {"subnet"} for item in value):
        raise ValueError("must be a list of {subnet: CIDR}")
    return [{"subnet": text(item["subnet"])} for item in value if "subnet" in item]


# A network a stack file defines: the keys `docker stack deploy` creates it with.
STACK_NETWORK_KEYS = {"driver": text, "driver_opts": mapping(), "labels": mapping(),
                      "ipam": {"driver": text, "config": _ipam_config},
                      "internal": boolean, "attachable": boolean}
# Keys stack files allow on secrets (driver, driver_opts) that shipway does not carry: an
# object it makes is plain content, named after that content.
NOT_MADE = "shipway does not make secrets through a secret driver"
# What an external volume cannot have: it exists already (stack deploy refuses them too).
NOT_EXTERNAL = ("driver", "driver_opts", "labels")


def _rules(kind, stack_file):
    rules = {"name": text, "external": _external}
    if kind in ("secrets", "configs"):
        rules.update(file=text, labels=mapping(), template_driver=text)
    if kind == "secrets":
        rules["environment"] = text
    if kind == "volumes":
        rules.update(driver=text, driver_opts=mapping(), labels=mapping())
    if kind == "networks" and stack_file:
        rules.update(STACK_NETWORK_KEYS)
    return rules


def _definition(kind, value, fail, key, base_dir, stack_file):
    if isinstance(value, dict):
        if kind == "secrets":
            for option in ("driver", "driver_opts"):
                if option in value:
                    fail(f"{key}.{option}", f"{NOT_MADE}: give the content with file or "
                         "environment, or create the secret yourself (docker secret create) "
                         "and declare it external: true")
        # x- keys are the file's own notes (YAML anchors' homes): stack deploy skips them
        value = {k: v for k, v in value.items() if not str(k).startswith("x-")}
    checked = walk(_rules(kind, stack_file), value if value is not None else {}, fail,
                   key + ".", null=NO_VALUE)
    external = checked.pop("external", {})
    if external.get("external"):
        if "name" in external:
            if "name" in checked:
                fail(f"{key}.external.name", f"{key}.external.name and {key}.name conflict; "
                     f"only use {key}.name")
            checked["name"] = external["name"]
        if kind == "volumes":
            for option in NOT_EXTERNAL:
                if option in checked:
                    fail(f"{key}.{option}", f"conflicting parameters \"external\" and "
                         f"\"{option}\": an external volume exists already: drop one of them")
        checked["external"] = True
    if kind == "networks":
        if not stack_file and external.get("external") is False:
            fail(key, "a catalog's services attach to existing networks only: declare it "
                 "external: true (a network a stack file defines is made as docker stack "
                 "deploy makes it)")
        # A catalog's networks are existing ones; in a stack file, one not marked external
        # is one stack deploy creates (and shipway with it: pipeline/swarm/stack.py).
        checked["external"] = bool(external.get("external")) or not stack_file
    if kind in ("secrets", "configs"):
        sources = [k for k in ("file", "environment", "external") if k in checked]
        if len(sources) != 1:
            fail(key, "needs exactly one of file, environment or external"
                 if kind == "secrets" else "needs exactly one of file or external")
        if "file" in checked:
            checked["file"] = os.path.normpath(os.path.join(base_dir, checked["file"]))
    return checked


def definitions(raw, fail, base_dir, stack_file=False):
    """Top-level `secrets`, `configs`, `networks`, `volumes` definitions, checked (`stack_file`:
    they come from a stack file, whose networks not marked external are made as stack deploy
    makes them; a catalog's are existing ones)."""
    out = {}
    for kind in DEFINITION_KINDS:
        section = raw.get(kind) or {}
        if not isinstance(section, dict):
            fail(kind, "must be a mapping of names to their definitions")
        out[kind] = {}
        for name, value in section.items():
            if not isinstance(name, str) or not name:
                fail(kind, f"has a bad name {name!r}")
            out[kind][name] = _definition(kind, value, fail, f"{kind}.{name}", base_dir,
                                          stack_file)
    return out


def check_references(service, defined, fail, strict=False):
    """Every secret and config a service uses is defined (with `strict`, networks and named
    volumes too, as stack deploy requires; a catalog may name existing ones directly)."""
    for kind in ("secrets", "configs"):
        for i, reference in enumerate(service.get(kind, [])):
            if reference["source"] not in defined[kind]:
                fail(f"{kind}[{i}].source", f"{kind[:-1]} {reference['source']!r} is not "
                     f"defined (add it under the top-level {kind}: key)")
    if not strict:
        return
    for name in service.get("networks", {}):
        # `default` needs no definition: it is the stack's own network, <stack>_default
        if name not in defined["networks"] and name != DEFAULT_NETWORK:
            fail(f"networks.{name}", f"undefined network {name!r}")
    for i, volume in enumerate(service.get("volumes", [])):
        if volume["type"] == "volume" and volume.get("source") \
                and volume["source"] not in defined["volumes"]:
            fail(f"volumes[{i}].source", f"undefined volume {volume['source']!r}")
