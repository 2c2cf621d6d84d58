"""The plan of a deploy from its request and what was read (pure): every refusal, the secrets
and configs to create, the networks (those a stack file has created, stack.py), the
platforms, the fields and which of them the catalog sets, then plan.plan_deploy's service
write and what to wait for; for a job service, whether it runs (job_plan.settle).

Nothing is written before the whole plan stands, so a refusal changes nothing."""
import contextlib

from pipeline.catalog import compose_defs
from pipeline.errors import CatalogError, EngineError, UsageError
from pipeline.swarm import compose, execute, job_plan, jobrun, stack
from pipeline.swarm import plan as planner
from pipeline.swarm import releases as history
from pipeline.swarm.spec import CREATE_DEFAULTS, JOB_CREATE_DEFAULTS, digest_of, image_of
from pipeline.swarm.writes import CreateNamingKey, CreateObject

PLATFORMS = ("TaskTemplate", "Placement", "Platforms")
JOB_MODES = ("replicated-job", "global-job")
RESTART = ("TaskTemplate", "RestartPolicy")


def in_catalog(request, key, message, hint=None):
    """A problem with a catalog key found while deploying, naming file, service and key
    (without a catalog, the flags set the key: the message alone)."""
    if not request.catalog:
        return UsageError(f"{key}: {message}", hint=hint)
    return CatalogError(message, path=request.catalog, service=request.name, key=key, hint=hint)


@contextlib.contextmanager
def catalog_keys(request):
    """A UsageError naming a key, raised inside, as the error about that catalog key."""
    try:
        yield
    except UsageError as exc:
        if "key" not in exc.context or isinstance(exc, CatalogError):
            raise
        raise in_catalog(request, exc.context["key"], exc.message, exc.hint) from None


def network_alias(request, current):
    """The short name a service has as an alias on its networks, as stack deploy makes it:
    the stack file's service name; for a service a stack made (`<stack>_<svc>`, labelled
    with its stack), `<svc>`, which the stack's other services reach it by; else its name."""
    name = request.name
    if request.compose_service:
        return request.compose_service
    space = ((current or {}).get("Spec", {}).get("Labels") or {}).get(stack.NAMESPACE_LABEL)
    if space and name.startswith(space + "_") and len(name) > len(space) + 1:
        return name[len(space) + 1:]
    return name


def plan_request(request, reading, labels):
    """The deploy's plan.Plan: object writes first, then the service's. `labels`: shipway's
    labels for this release (spec.deploy_labels). Raises UsageError/CatalogError for what
    the engine would refuse or the request gets wrong, EngineError for a config that exists
    with other content."""
    _refuse(request, reading)
    with catalog_keys(request):
        network_ids, network_writes = _networks(request, reading)
        refs = _object_refs(reading)
    conversion, managed = _convert(request, reading, network_ids, refs)
    fields = {**conversion.fields, **stack.label_fields(reading.namespace)}
    current = reading.current
    if current is not None and request.platforms and PLATFORMS not in fields and \
            digest_of(image_of(current["Spec"])) != digest_of(request.image):
        # What `docker service update --image` does (the client library, resolving the
        # image): a new image's platforms, as the registry lists them, so that swarm puts
        # its tasks only on nodes it runs on. The same platforms are no change, and the
        # same image does not restart tasks for them.
        fields[PLATFORMS] = request.platforms
    running = history.running_release(reading.releases, current["Spec"]) if current else None

    def plan_with(extra):
        return planner.plan_deploy(
            request.name, current,
            {**fields, planner.IMAGE: request.image, **planner.label_fields(labels), **extra},
            defaults=_defaults(request, conversion, fields), managed=managed,
            last_managed=running.managed if running else ())
    plan = plan_with({})
    if jobrun.is_job(plan.spec or current["Spec"]):
        plan = job_plan.settle(request.name, plan, current, reading.tasks, request.rerun_jobs,
                               plan_with)
    plan.writes = network_writes + _object_writes(reading) + plan.writes
    plan.notes = [f"{item.kind} {item.name} for {item.source!r} exists: reused"
                  for item in reading.wanted
                  if not item.external and (item.kind, item.name) in reading.found]
    unscoped = request.compose_service and not reading.namespace and \
        stack.unscoped_note(request.name, request.service, request.definitions)
    if unscoped:
        plan.remarks.append(unscoped)
    return plan


def _defaults(request, conversion, fields):
    """What a new service gets beyond the fields: the stack file's implied values, and
    shipway's create defaults for a catalog entry (a job's own: no update policy, which the
    engine refuses a job, and no restart by swarm unless the catalog sets a restart policy)."""
    defaults = dict(conversion.implied)
    if request.source_catalog:
        if conversion.mode in JOB_MODES:
            defaults.update({path: value for path, value in JOB_CREATE_DEFAULTS.items()
                             if not (path[:2] == RESTART and any(p[:2] == RESTART
                                                                 for p in fields))})
        else:
            defaults.update(CREATE_DEFAULTS)
    return defaults


def _refuse(request, reading):
    """What the engine would refuse of this service, refused before anything is made: a mode
    it cannot change to, ingress ports on a dnsrr endpoint, a bad env_file."""
    name, current, service = request.name, reading.current, request.service
    if "env_file" in service:
        try:
            compose.environment(service, request.base_dir, request.environ)
        except OSError as exc:
            raise in_catalog(request, "env_file", f"cannot read {exc.filename}: {exc.strerror}",
                             "env_file paths are relative to the catalog") from None
        except ValueError as exc:
            raise in_catalog(request, "env_file", str(exc), "lines are NAME=VALUE") from None
    with catalog_keys(request):
        planner.check_mode(name, current, compose.asked_mode(service),
                           "deploy.mode" if "mode" in service.get("deploy", {})
                           else "deploy.replicas")
        endpoint = (current or {}).get("Spec", {}).get("EndpointSpec") or {}
        if current is not None:
            mode, why = endpoint.get("Mode", "vip"), f", which service {name} has"
        else:
            mode = CREATE_DEFAULTS[("EndpointSpec", "Mode")] if request.source_catalog \
                else "vip"
            why = ", shipway's default for a new service"

        def fail(key, message):
            raise UsageError(message, key=key)
        compose_defs.check_endpoint(service, fail, mode, why, endpoint.get("Ports") or ())


def _networks(request, reading):
    """({network key: id}, the CreateNetwork writes) from the networks read (name -> id or
    None): a network the stack file has created that does not exist is created, and named
    by its name until it has an id (the engine takes either); a missing existing one is
    refused."""
    space, found = reading.namespace, reading.networks
    names = stack.network_names(request.service, request.definitions, space)
    writes = stack.network_writes(request.service, request.definitions, space, found)
    made = {write.name for write in writes}
    for network in sorted(set(names.values()) - made):
        if found.get(network) is None:
            raise UsageError(f"network {network!r} does not exist", key="networks",
                             hint="create it: docker network create -d overlay "
                                  f"--attachable {network}")
    return {key: found.get(names[key]) or names[key] for key in names}, writes


def _object_refs(reading):
    """{"secret": refs, "config": refs} as compose.convert takes them: a new object's id is
    execute.NEW_ID until it is made. A missing external one is refused."""
    refs = {"secret": {}, "config": {}}
    for item in reading.wanted:
        found = reading.found.get((item.kind, item.name))
        if item.external and found is None:
            raise UsageError(f"external {item.kind} {item.name!r} (for {item.source!r}) "
                             "does not exist",
                             hint=f"create it (`docker {item.kind} create {item.name} "
                                  "FILE`) or define it with `file:`", key=item.kind + "s")
        refs[item.kind][item.source] = {"Name": item.name, "ID": found or execute.NEW_ID}
    if reading.other_content:
        name = reading.other_content[0]
        raise EngineError(f"config {name} exists with other content",
                          hint=f"remove it (`docker config rm {name}`) and deploy again")
    return refs


def _convert(request, reading, network_ids, refs):
    """The Conversion of the request's keys, and the paths the catalog's own keys set
    (None: no catalog)."""
    alias = network_alias(request, reading.current)

    def convert(keys):
        return compose.convert(keys, name=request.name, alias=alias, network_ids=network_ids,
                               secret_refs=refs["secret"], config_refs=refs["config"],
                               base_dir=request.base_dir, definitions=request.definitions,
                               environ=request.environ, platforms=request.platforms,
                               namespace=reading.namespace)

    managed = (list(convert(request.catalog_keys).fields)
               if request.catalog_keys is not None else None)
    return convert(request.service), managed


def _object_writes(reading):
    """The secrets and configs that do not exist yet; first the naming key when the swarm
    has none (then the secrets' names wait for it: once it is made, the deploy reads and
    plans again)."""
    key = [] if reading.has_key else [CreateNamingKey()]
    return key + [CreateObject(item) for item in reading.wanted
                  if not item.external and (item.kind, item.name) not in reading.found]
