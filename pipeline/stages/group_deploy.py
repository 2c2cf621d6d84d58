"""`shipway deploy --group G`: every member's image pinned first (a tag the registry does not
know stops the group before anything changed), every member's lock, then the steps in order
(pipeline/swarm/group.py), each member deployed as `shipway deploy` deploys one service, and
the group release recorded once every step passed.
"""
import contextlib

from pipeline import imageref, notify, registry, state
from pipeline.api.engine import engine_errors, list_services, resolve_digest
from pipeline.errors import DeployError, UsageError
from pipeline.stages import common
from pipeline.stages import deploy as deploy_stage
from pipeline.swarm import apply as swarm_apply
from pipeline.swarm import group, group_plan, group_releases
from pipeline.swarm.stack import NAMESPACE_LABEL


def images(target, args):
    """member -> (repo, tag, digest) to deploy: `--image MEMBER=REF`, else what `shipway
    push` pushed for it in this workspace, else the catalog's or stack file's image."""
    given = {}
    for text in args.image or []:
        member, sep, reference = text.partition("=")
        if not sep or member not in target.members:
            raise UsageError(f"--image {text!r}: with --group, give MEMBER=REF for a member "
                             f"of group {target.group.name} ({', '.join(target.members)})",
                             hint="e.g. --image api=registry:5000/shop/api:42")
        given[member] = reference
    out = {}
    for member, settings in target.members.items():
        reference = given.get(member)
        if reference is None:
            pushed = state.load(target.ctx.state_dir(args.state_dir), settings["entry"], "push",
                                shape={"reference": str})
            reference = pushed["reference"] if pushed else settings.get("image_ref")
        if not reference:
            raise UsageError(f"no image for {member} of group {target.group.name}",
                             hint=f"pass --image {member}=REF or run `shipway push` for it")
        try:
            repo, tag, digest = imageref.split(reference)
        except ValueError as exc:
            raise UsageError(f"{member}: {exc}", hint="give REPO:TAG or REPO@sha256:...") \
                from None
        if not tag and not digest:
            raise UsageError(f"{member}: image {reference!r} names no tag or digest",
                             hint="deploy a tag that was pushed, e.g. REPO:TAG")
        out[member] = (repo, tag, digest)
    return out


def _check_flags(target, args):
    if args.prune and target.group.stack is None:
        raise UsageError(f"--prune is for a group of a stack file's services; group "
                         f"{target.group.name} names its steps",
                         hint="leave --prune out, or remove a service with shipway remove")
    if deploy_stage.flag_keys(args):
        raise UsageError("deploy flags that set a service's keys (--replicas, --env, ...) "
                         "are for one service", hint="set them in the catalog for the member")


def prepare(target, args):
    """member -> (Rollout, repo, tag, digest) with every digest resolved and every
    analysis preflight done: nothing changed yet."""
    _check_flags(target, args)
    wanted = images(target, args)
    api = target.ctx.engine()
    out = {}
    for member, (repo, tag, digest) in wanted.items():
        settings = target.members[member]
        auth = registry.auth_config(target.ctx, repo)
        rollout = deploy_stage.prepare(target.ctx, args, settings, auth)
        if not digest:
            with engine_errors(f"deploy of group {target.group.name}: {member}"):
                digest, _ = resolve_digest(api, f"{repo}:{tag}", auth)
        out[member] = (rollout, repo, tag, digest)
    return out


def deploy(target, args):
    """The group release: steps in order; a failing one undone per on_failure; exit 1 naming
    the member, its error and what every member runs."""
    ctx = target.ctx
    prepared = prepare(target, args)     # bad input is said before the engine is asked
    api = ctx.engine()
    pinned = {m: imageref.pinned(repo, tag, digest) for m, (_, repo, tag, digest)
              in prepared.items()}
    provenance = {"deployed-by": ctx.build.user}
    approved = ctx.environ.get("SHIPWAY_APPROVED_BY")
    if approved:   # a group pipeline's approval gate before this environment said who
        provenance["approved-by"] = approved
    notifier = notify.for_group(target.members.values(), ctx, target.group.name,
                                target.environment)

    def deploy_member(member):
        rollout, repo, tag, digest = prepared[member]
        service = dict(target.members[member]["service"])
        # check: the registry is asked by digest for the image's platforms (placement),
        # as `shipway deploy` and `docker stack deploy --resolve-image always` do.
        result = rollout.deploy(service, repo, tag, digest, provenance, check=True,
                                locked=False)
        if not args.dry_run:
            rollout.record(result)
        return result

    with engine_errors(f"deploy of group {target.group.name}"), \
            target.locked(api, args, "deploy", notify=notifier):
        readings = target.read(api)
        gone = _left_behind(target, api)
        if args.dry_run:
            return _dry_run(target, args, readings, pinned, deploy_member, gone)
        outcome = group.release(target.group, readings, target.actions(api, deploy_member),
                                ctx.console.event)
        now = target.read(api)
        recorded = _remember(target, api, outcome, now) if outcome.ok else None
        if outcome.ok:
            _prune(target, api, args, gone)
    return _finish(target, args, outcome, now, recorded, notifier)


def _left_behind(target, api):
    """A stack group's services the file no longer has (nothing for a catalog group)."""
    if target.group.stack is None:
        return []
    running = [s["Spec"]["Name"] for s in list_services(api, {NAMESPACE_LABEL:
                                                              target.group.stack})]
    return group_plan.left_behind(target.group.stack, running, target.names().values())


def _prune(target, api, args, gone):
    """Remove (with --prune) or name the stack's services the file no longer has; only
    those labelled with the group's stack, after every step passed."""
    report = target.ctx.console.event
    for name in gone:
        if not args.prune:
            report(f"service {name} of stack {target.group.stack} is not in the stack file "
                   "any more: left as it is (--prune removes it)")
            continue
        with contextlib.ExitStack() as held:
            held.enter_context(common.locked(target.ctx, api, {"name": name, "deploy": {
                "timeout": 60.0}}, "remove", args))
            swarm_apply.remove(api, name, report)
        report(f"service {name} removed: stack {target.group.stack}'s file no longer has it")


def _dry_run(target, args, readings, pinned, deploy_member, gone=()):
    lines = group_plan.plan_lines(target.group, readings, pinned)
    lines += [f"would {'remove' if args.prune else 'leave'} service {name}: not in the stack "
              "file any more" for name in gone]
    plans = {}
    for member in target.group.members if target.group.stack is None else target.members:
        result = deploy_member(member)
        plans[member] = result.plan
        lines += [f"{member}: {line}" for line in result.plan]
    if args.json:
        target.ctx.console.json({"group": target.group.name, "dry_run": True,
                                 "images": pinned, "plans": plans})
    else:
        for line in lines:
            target.ctx.console.result(line)
    return 0


def _remember(target, api, outcome, now):
    """Record the group release: which release of each member it made."""
    members = {}
    for member, reading in now.items():
        result = outcome.results.get(member)
        release = getattr(result, "release", None)
        members[member] = {"service": reading.service,
                           "release_id": release.id if release else reading.running_id,
                           "seq": release.seq if release else reading.running_seq,
                           "image": reading.image, "job": reading.job}
    existing = group_releases.history(api, target.key)
    recorded = group_releases.record(api, target.key, members, target.ctx.build, existing)
    group_releases.prune(api, [recorded] + existing, 10, recorded)
    target.ctx.console.event(f"group {target.group.name}: group release #{recorded.seq} "
                             f"recorded")
    return recorded


def _finish(target, args, outcome, now, recorded, notifier):
    name = target.group.name
    record = {"group": name, "ok": outcome.ok,
              "group_release": recorded.seq if recorded else None,
              "members": {m: r.describe() for m, r in now.items()},
              "failed": outcome.failed, "error": outcome.error,
              "undone": [{"member": u.member, "action": u.action, "to": u.to, "result": e}
                         for u, e in outcome.undone]}
    if args.json:
        target.ctx.console.json(record)
    if not outcome.ok:
        step = target.group.steps[outcome.step].label(outcome.step)
        line = (f"group {name} failed at {step}: {outcome.failed}: {outcome.error}; "
                f"now: {group.now_line(now)}")
        failed = target.members.get(outcome.failed) or {}
        notifier("group-failed", service=outcome.failed, swarm_service=failed.get("name"),
                 reason=line, running_image=getattr(now.get(outcome.failed), "image", ""))
        raise DeployError(line, hint=f"see `shipway status --group {name}` for what runs now")
    if not args.json:
        target.ctx.console.result(f"group {name}: group release #{recorded.seq}: "
                                  f"{group.now_line(now)}")
    return 0
