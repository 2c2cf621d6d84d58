"""`shipway continue`: finish a deploy whose analysis was inconclusive and paused it (exit 3),
or one a stopped deploy left half done: the held rest of the update, then the bake, swarm's
verdict, the release record and the deploy marker, as the deploy would have (see
pipeline/swarm/resume.py). Who approved it ($SHIPWAY_APPROVED_BY, what the rendered
Jenkinsfile's input sets, else who runs shipway) goes on the release record.

(`continue` is a Python keyword: the module has another name.)
"""
from pipeline import imageref, notify, registry, state
from pipeline.api.engine import engine_errors, inspect_service
from pipeline.context import redacted
from pipeline.stages import common
from pipeline.stages.deploy import add_rollout_arguments, finish, show_plan, tell
from pipeline.stages.rollback import one_line
from pipeline.swarm import resume
from pipeline.swarm import steps as judged
from pipeline.swarm.spec import image_of


def add_arguments(parser):
    common.add_service_arguments(parser, environment=True)
    add_rollout_arguments(parser)


def run(ctx, args):
    settings, ctx = common.target(ctx, args, [("timeout", "deploy.timeout")])
    approved = one_line(ctx.environ.get("SHIPWAY_APPROVED_BY") or ctx.build.user or "",
                         "the user")
    api = ctx.engine()
    header = _registry_header(ctx, api, settings)
    mark = None if args.dry_run else judged.marker(settings, ctx.environ, ctx.build,
                                                   ctx.console.event)
    notifier = None if args.dry_run else notify.notifier(settings, ctx, "continue")
    with engine_errors(f"continue of {settings['name']}"):
        steps = judged.prepare(api, settings, ctx.environ, header, ctx.console.event, mark)
    with engine_errors(f"continue of {settings['name']}"), \
            common.locked(ctx, api, settings, "continue", args):
        result = resume.resume(api, settings, steps, approved, ctx.console.event,
                               settings["deploy"]["timeout"], header, args.dry_run)
    if args.dry_run:
        return show_plan(ctx, args, {**result.summary(), "plan": result.plan}, result.plan)
    record = {**result.summary(), "approved_by": approved}
    if settings.get("environment"):
        # the deploy's record, finished: `promote --expect-record` reads it as such
        record["environment"] = settings["environment"]
    if steps is not None:
        record["analysis"] = steps.record()
    if mark is not None and not (steps is not None and steps.marked):
        findings = "; ".join(steps.judge.dry_run_findings()) if steps else ""
        mark("deployed" if result.outcome.ok else "failed", result.image, result.release,
             "" if result.outcome.ok else result.outcome.reason, findings)
    tell(notifier, result, ctx)
    record = redacted(record, ctx.secrets())
    state.save(ctx.state_dir(args.state_dir), common.state_key(settings), "deploy", record)
    return finish(ctx, args, settings, result, record,
                  lambda: _continued_line(settings["name"], result, approved))


def _continued_line(name, result, approved):
    """The last line of a continue that went well."""
    release = f" as release #{result.release.seq}" if result.release else ""
    return (f"{name}: continued {result.image}{release} ({result.outcome.running}/"
            f"{result.outcome.desired} running), approved by {approved or 'nobody named'}")


def _registry_header(ctx, api, settings):
    """X-Registry-Auth for the nodes that pull the release for the rest (None without
    with_registry_auth, or without the service: the plan says so)."""
    if not settings["deploy"]["with_registry_auth"]:
        return None
    with engine_errors(f"continue of {settings['name']}"):
        current = inspect_service(api, settings["name"])
    image = image_of((current or {}).get("Spec"))
    if not image:
        return None
    return registry.auth_header(registry.auth_config(ctx, imageref.split(image)[0]))

