"""Top-level definitions of a catalog or stack file (secrets, configs, networks, volumes) and
the checks across a service's keys that no single key shows."""
import os

from pipeline.catalog.compose_keys import JOB_MODES, NO_VALUE
from pipeline.catalog.schema import walk
from pipeline.catalog.values import mapping, text

DEFINITION_KINDS = ("secrets", "configs", "networks", "volumes")


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


# Keys stack files allow on secrets (all three) and configs (template_driver) that shipway
# does not carry: an object it makes is plain content, named after that content.
NOT_MADE = {
    "driver": "shipway does not make secrets through a secret driver",
    "driver_opts": "shipway does not make secrets through a secret driver",
    "template_driver": "shipway does not make templated {kind}",
}


def _definition(kind, value, fail, key, base_dir, stack_file):
    for option, why in NOT_MADE.items():
        if isinstance(value, dict) and option in value and (
                kind == "secrets" or (kind == "configs" and option == "template_driver")):
            fail(f"{key}.{option}", why.format(kind=kind) + f": give the content with file"
                 f"{' or environment' if kind == 'secrets' else ''}, or create the "
                 f"{kind[:-1]} yourself (docker {kind[:-1]} create) and declare it "
                 "external: true")
    rules = {"name": text, "external": _external}
    if kind in ("secrets", "configs"):
        rules.update(file=text, labels=mapping())
    if kind == "secrets":
        rules["environment"] = text
    if kind == "volumes":
        rules.update(driver=text, driver_opts=mapping(), labels=mapping())
    checked = walk(rules, value if value is not None else {}, fail, key + ".", null=NO_VALUE)
    external = checked.pop("external", {})
    if external.get("external"):
        if "name" in external and "name" not in checked:
            checked["name"] = external["name"]
        checked["external"] = True
    if kind == "networks":
        # A catalog's networks are existing ones; in a stack file, one not marked external is
        # one stack deploy would create.
        if external.get("external") is False or (stack_file and not external):
            fail(key, "shipway attaches to existing networks only: declare it external: true")
        checked["external"] = True
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
    they come from a stack file, where a network must say `external: true`)."""
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
        if name not in defined["networks"]:
            fail(f"networks.{name}", f"undefined network {name!r}")
    for i, volume in enumerate(service.get("volumes", [])):
        if volume["type"] == "volume" and volume.get("source") \
                and volume["source"] not in defined["volumes"]:
            fail(f"volumes[{i}].source", f"undefined volume {volume['source']!r}")
