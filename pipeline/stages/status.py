"""`shipway status`: what the service runs now, its replicas (a job: its current run), its
update state, who deployed it."""
from pipeline.api import engine
from pipeline.errors import UsageError
from pipeline.stages import common, status_all
from pipeline.swarm import jobrun, lock
from pipeline.swarm import releases as history
from pipeline.swarm.plan import mode_of
from pipeline.swarm.replicas import desired_count, others_remain, replica_slots
from pipeline.swarm.spec import DEPLOY_LABELS, LABEL_PREFIX, digest_of, image_of, task_image


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True, every=True, group=True)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def service_status(api, name):
    """The status record of service `name` (UsageError when it does not exist)."""
    status = read_status(api, name)
    if status is None:
        raise UsageError(f"there is no service {name}", hint="check --service and DOCKER_HOST")
    return status


def read_status(api, name):
    """The status record of service `name`, or None when the engine has no such service."""
    service = engine.inspect_service(api, name)
    if service is None:
        return None
    tasks = engine.list_tasks(api, service["ID"])
    image = image_of(service["Spec"])
    live = [t for t in tasks if t.get("DesiredState") == "running"]
    running = [t for t in live if t["Status"]["State"] == "running"]
    update = service.get("UpdateStatus") or {}
    labels = service["Spec"].get("Labels") or {}
    previous = service.get("PreviousSpec")
    return {
        "service": name,
        "id": service["ID"],
        "version": service["Version"]["Index"],
        "image": image,
        "digest": digest_of(image),
        "replicas": {
            "desired": desired_count(service["Spec"], [t for t in tasks
                                                       if t.get("DesiredState") == "running"]),
            "running": len(running),
            "running_this_image": sum(1 for t in running if task_image(t) == image),
        },
        "update": {"state": update.get("State", ""), "message": update.get("Message", ""),
                   "settled": _settled(service, tasks, image),
                   "started": update.get("StartedAt", ""),
                   "completed": update.get("CompletedAt", "")},
        # Only what deploy records: a catalog label such as shipway.lab is not deploy metadata.
        "deploy": {key: labels[LABEL_PREFIX + key] for key in (*DEPLOY_LABELS, "release")
                   if LABEL_PREFIX + key in labels},
        "previous_image": image_of(previous) if previous else None,
        "lock": lock.current(api, name),
        **_release_status(api, name, service["Spec"]),
        **_job_status(service, tasks),
    }


def _job_status(service, tasks):
    """{"job": its mode and current run} for a job service; {} for another."""
    if not jobrun.is_job(service["Spec"]):
        return {}
    return {"job": {"mode": mode_of(service["Spec"]),
                    **jobrun.run_of(service, tasks).summary()}}


def _rollback_line(status):
    if "job" in status:
        return "none: a job is not rolled back (deploy the release to run again)"
    target = status["rollback_to"]
    return f"to #{target['seq']} {target['image']}" if target else \
        "nothing older to roll back to"


def _job_line(job):
    """'completed (iteration 2: 1/1 tasks completed, exit codes 0; ended ...)'."""
    codes = ", ".join("?" if code is None else str(code) for code in job["exit_codes"])
    line = (f"{job['mode']}, {job['state']} (iteration {job['iteration']}: "
            f"{job['completed']}/{job['wanted']} tasks completed")
    if codes:
        line += f", exit codes {codes}"
    if job["finished"]:
        line += f"; ended {job['finished']}"
    return line + ")"


def _settled(service, tasks, image):
    """True while swarm still says `updating`/`rollback_started` but every replica already
    runs `image` and no other task runs: the update is done, swarm idles its last delay or
    monitor period before it writes `completed` (what `shipway deploy` returned on)."""
    state = (service.get("UpdateStatus") or {}).get("State", "")
    if state not in ("updating", "rollback_started"):
        return False
    live = [t for t in tasks if t.get("DesiredState") == "running"]
    return (len(replica_slots(live, image)) == desired_count(service["Spec"], live)
            and not others_remain(tasks, image))


def _update_line(update):
    if update["settled"]:
        verb = "rollback" if update["state"] == "rollback_started" else "update"
        return (f"{verb} done: every replica runs this image; swarm is idling its last "
                f"delay/monitor before it marks it completed ({update['state']})")
    return (update["state"] or "none") + (f" ({update['message']})" if update["message"] else "")


def _release_status(api, name, spec):
    """The running release and the one a rollback would go to, from the history (none for a
    job: it is not rolled back)."""
    releases = history.history(api, name)
    running = history.running_release(releases, spec)
    target = None if jobrun.is_job(spec) else \
        history.choose(releases, running, current_digest=digest_of(image_of(spec)))
    return {"release": running.summary() if running else None,
            "rollback_to": target.summary() if target else None,
            "releases": len(releases)}


def run(ctx, args):
    if common.environment_name(ctx, args) == common.ALL_ENVIRONMENTS:
        return status_all.run(ctx, args, read=read_status)
    settings, ctx = common.target(ctx, args)  # validates --service, --catalog, --environment
    status = service_status(ctx.engine(), settings["name"])
    if args.json:
        ctx.console.json(status)
        return 0
    r, u, d = status["replicas"], status["update"], status["deploy"]
    lines = [
        f"service:   {status['service']} ({status['id'][:12]}, version {status['version']})",
        f"image:     {status['image']}",
        f"job:       {_job_line(status['job'])}" if "job" in status else
        f"replicas:  {r['running']}/{r['desired']} running "
        f"({r['running_this_image']} on this image)",
        f"update:    {_update_line(u)}",
        "lock:      " + (lock.line(status["lock"]) if status["lock"] else "free"),
        f"previous:  {status['previous_image'] or 'none'} (swarm's previous spec)",
        "release:   " + (f"#{status['release']['seq']} of {status['releases']}"
                          if status["release"] else f"none of {status['releases']} recorded"),
        "rollback:  " + _rollback_line(status),
    ]
    lines += [f"deploy {k}: {v}" for k, v in sorted(d.items())]
    for line in lines:
        ctx.console.result(line)
    return 0
