"""What every stage shares: --catalog/--service, settings resolution, argument types.

Settings are resolved once: catalog entry (with its defaults), then command-line flags on top.
"""
import argparse
import contextlib
import os
import re

from pipeline import catalog, imageref
from pipeline.catalog import values
from pipeline.errors import UsageError
from pipeline.swarm import lock
from pipeline.units import parse_duration


def duration(text):
    """argparse type for 5s / 500ms / 1m30s."""
    try:
        return values.check_duration(parse_duration(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count(minimum=0, maximum=values.MAX_COUNT):
    """argparse type for a whole number from `minimum` to `maximum`."""
    check = values.whole_number(minimum, maximum)

    def parse(text):
        if not re.fullmatch(r"[0-9]+", text):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        try:
            return check(int(text))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def seconds(text):
    """argparse type for a timeout: a duration (or plain seconds) above zero."""
    value = duration(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def key_value(text):
    """argparse type for KEY=VALUE."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def repository(text):
    """argparse type for an image repository without tag."""
    try:
        return imageref.check_repository(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_service_arguments(parser, service_required=True, environment=False, every=False,
                          group=False):
    """--catalog, --service, --state-dir; with `environment`, --environment too (`every`:
    it takes `all` as well); with `group`, --group (then --service is not required: one of
    the two is, main() checks)."""
    parser.add_argument("--catalog", metavar="FILE", help="service catalog (YAML)")
    parser.add_argument("--service", metavar="NAME", required=service_required and not group,
                        help="service name (the catalog entry and the swarm service)")
    if group:
        parser.add_argument("--group", metavar="NAME",
                            help="a group of the catalog: its services, released together")
    if environment:
        parser.add_argument("--environment", metavar="NAME",
                            help="the catalog environment to act on: its engine, service name "
                                 "and keys (default $SHIPWAY_ENVIRONMENT)"
                                 + ("; `all`: every environment, one row each, asked at once"
                                    if every else ""))
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where stages hand results on (default $WORKSPACE/.shipway)")


# `status --environment all` asks every environment; for any other command it is bad input.
ALL_ENVIRONMENTS = "all"


def environment_name(ctx, args):
    """--environment, else $SHIPWAY_ENVIRONMENT, else None (the engine DOCKER_HOST names)."""
    return getattr(args, "environment", None) or ctx.environ.get("SHIPWAY_ENVIRONMENT") or None


def target(ctx, args, overrides=()):
    """(settings, context) of the service a command acts on: in the environment asked for
    (--environment or $SHIPWAY_ENVIRONMENT) its settings there and a context on its engine;
    without one, settings() and `ctx` itself."""
    name = environment_name(ctx, args)
    if name is None:
        return settings(args, overrides), ctx
    if name == ALL_ENVIRONMENTS:
        raise UsageError(f"--environment {name} is only for `shipway status`",
                         hint="name one environment of the catalog with --environment NAME "
                              "or SHIPWAY_ENVIRONMENT")
    if not args.catalog:
        raise UsageError(f"--environment {name} needs the catalog that defines it",
                         hint="pass --catalog FILE (its top-level 'environments:')")
    loaded = catalog.load(args.catalog)
    environment = loaded.environment(name)
    return settings(args, overrides, loaded=loaded, environment=name), \
        ctx.for_environment(environment)


def settings(args, overrides=(), loaded=None, environment=None):
    """The service's settings: catalog entry (or defaults) with `overrides` applied.

    `overrides` is a table of (argument name, dotted settings key); an argument left at None
    does not override. KEY=VALUE lists become mappings merged over the catalog's.
    `loaded`: the catalog, when the caller read it already; `environment`: its name there.
    """
    name = args.service
    if not catalog.SERVICE_NAME.match(name or ""):
        raise UsageError(f"bad service name {name!r}", hint=catalog.SERVICE_NAME_RULE)
    if args.catalog:
        loaded = loaded or catalog.load(args.catalog)
        resolved = catalog.merge(loaded.service(name, environment), {})
        resolved["_base_dir"] = loaded.base_dir
    else:
        resolved = catalog.merge(catalog.DEFAULTS, {"name": name, "entry": name,
                                                    "environment": None, "_base_dir": "."})
    for arg, dotted in overrides:
        value = getattr(args, arg, None)
        if value is None or value == []:
            continue
        *parents, leaf = dotted.split(".")
        node = resolved
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            node[leaf] = {**node.get(leaf, {}), **dict(value)}
        else:
            node[leaf] = value
    return resolved


def state_key(settings_):
    """The name a stage's hand-over file goes by: the catalog entry, and the environment
    (a build deploys one entry to several)."""
    entry = settings_.get("entry") or settings_["name"]
    return f"{entry}.{settings_['environment']}" if settings_.get("environment") else entry


def require(settings_, key, flag):
    """A setting that must be there, from the catalog or a flag."""
    value = settings_.get(key)
    if value in (None, ""):
        raise UsageError(f"no {key} for service {settings_['name']!r}",
                         hint=f"pass {flag} or set '{key}' in the catalog")
    return value


def path_of(settings_, key, default=None):
    """A catalog path resolved against the catalog's directory (flags: against the cwd)."""
    value = settings_.get(key) or default
    if value is None:
        return None
    return os.path.normpath(os.path.join(settings_.get("_base_dir", "."), value))


def add_lock_argument(parser):
    """--lock-timeout, for the stages that take the service's deploy lock."""
    parser.add_argument("--lock-timeout", type=seconds, metavar="DURATION",
                        help="how long to wait for another command's lock on the service "
                             "(default: the command's own timeout)")


def locked(ctx, api, settings_, command, args, before_wait=None, notify=None):
    """The service's deploy lock held for a `with` block (nothing for --dry-run, which
    changes nothing): waits up to --lock-timeout, else the deploy timeout. before_wait(info):
    called once if another holds the lock, before waiting for it (to raise what makes
    waiting pointless); notify: a notify.Notifier, told `lock-waiting` then."""
    if getattr(args, "dry_run", False):
        return contextlib.nullcontext()
    timeout = (getattr(args, "lock_timeout", None) or getattr(args, "timeout", None)
               or settings_["deploy"]["timeout"])

    def waiting(info):
        if notify is not None:
            notify("lock-waiting", service=settings_.get("entry") or settings_["name"],
                   swarm_service=settings_["name"], command=command,
                   reason=f"held: {lock.line(info)}; waiting up to {timeout:.0f}s")
        if before_wait is not None:
            before_wait(info)

    return lock.held(api, settings_["name"], holder=lock.holder_of(ctx.environ, ctx.build),
                     command=command, timeout=timeout, report=ctx.console.event,
                     lease=lock.lease_seconds(ctx.environ), before_wait=waiting)
