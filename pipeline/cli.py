"""The `shipway` command: parse arguments, run one stage, map errors to exit codes.

A stage module (and with it python-jenkins, jinja2 or PyYAML) is imported by name when it is
chosen (STAGES): the parser of one stage needs no other stage.
"""
import argparse
import importlib
import importlib.util
import sys

from pipeline import __version__
from pipeline.console import Console
from pipeline.context import Context
from pipeline.errors import EXIT_USAGE, ShipwayError, UsageError

# name -> (module, one-line help). One module per subcommand under pipeline/stages/.
STAGES = {
    "build": ("pipeline.stages.build", "run the service's source build command"),
    "image": ("pipeline.stages.image", "build and tag the service's image"),
    "push": ("pipeline.stages.push", "push this build's tags; print REPO@sha256:..."),
    "deploy": ("pipeline.stages.deploy", "create or update the swarm service, wait until healthy"),
    "promote": ("pipeline.stages.promote",
                "deploy to one environment the digest another one runs (copied if need be)"),
    "rollback": ("pipeline.stages.rollback", "put the service back on its previous release"),
    "continue": ("pipeline.stages.resume",
                 "finish a deploy its analysis paused: the rest of the update, then the bake"),
    "status": ("pipeline.stages.status", "what the service runs now"),
    "releases": ("pipeline.stages.releases", "the service's recorded releases, newest first"),
    "remove": ("pipeline.stages.remove", "remove the service and its release history"),
    "unlock": ("pipeline.stages.unlock", "break the service's deploy lock, saying whose it was"),
    "notify": ("pipeline.stages.notify",
               "tell the service's webhooks an event (approval-waiting, before an approval)"),
    "render": ("pipeline.stages.render",
               "render Jenkinsfiles and job config.xml from the catalog"),
    "jobs": ("pipeline.stages.jobs", "provision Jenkins jobs from the catalog (sync/diff/list)"),
}


GROUP_MODULE = "pipeline.stages.group"


def _require_service(args):
    """--service, for a command that also takes --group and was given neither."""
    if hasattr(args, "group") and not args.service:
        raise UsageError(f"shipway {args.stage}: give --service NAME or --group NAME",
                         hint=f"see shipway {args.stage} --help")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}", hint=f"see {self.prog} --help")


def _available_stages():
    return {name: entry for name, entry in STAGES.items()
            if importlib.util.find_spec(entry[0]) is not None}


def build_parser(stage=None):
    """The argument parser; with `stage`, only that subcommand's arguments are loaded."""
    parser = _Parser(prog="shipway", description="Build-step runner and Jenkins companion "
                     "for Docker Swarm. Every stage takes --catalog FILE --service NAME.")
    parser.add_argument("--version", action="version", version=f"shipway {__version__}")
    parser.add_argument("--timestamps", action="store_true",
                        help="prefix event lines with the time")
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", parser_class=_Parser)
    # A chosen stage parses with its own subparser alone (the others are for --help and for
    # a mistyped stage's list of choices): eleven more parsers cost 5-10 ms of every start.
    stages = {stage: STAGES[stage]} if stage else _available_stages()
    for name, (module, help_text) in stages.items():
        stage_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == stage:
            importlib.import_module(module).add_arguments(stage_parser)
    return parser


def _chosen_stage(argv):
    for arg in argv:
        if arg in STAGES:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def error_record(exc, stage):
    """The --json record of a command that failed before writing its own: what went wrong,
    the hint, the exit code, and the error's JSON-ready context (a lock's holder, say)."""
    record = {"ok": False, "stage": stage, "error": exc.message, "hint": exc.hint,
              "exit_code": exc.exit_code, "kind": type(exc).__name__}
    for key, value in exc.context.items():
        if key not in record and isinstance(value, (str, int, float, bool, dict, list)):
            record[key] = value
    return record


def main(argv=None, environ=None, console=None):
    """Entry point of `shipway` and `python -m pipeline`; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    console = console or Console()
    args = None
    try:
        args = build_parser(_chosen_stage(argv)).parse_args(argv)
        if not args.stage:
            build_parser().print_help(console.err)
            return EXIT_USAGE
        console.timestamps = args.timestamps
        ctx = Context.from_env(environ, console)
        if getattr(args, "group", None) is not None:
            # --group: the same command on every service of a group (pipeline/stages/group.py)
            code = importlib.import_module(GROUP_MODULE).run(args.stage, ctx, args)
        else:
            _require_service(args)
            code = importlib.import_module(STAGES[args.stage][0]).run(ctx, args)
        return 0 if code is None else code
    except ShipwayError as exc:
        console.error(exc, exc.label)
        if getattr(args, "json", False) and not console.json_written \
                and exc.exit_code != EXIT_USAGE:
            # A command that ran and failed (a lock held too long, an engine that refused):
            # the machine reading stdout (the Jenkins job archives it) gets a record too.
            # Bad input (exit 2) stays a line on stderr alone: nothing ran.
            console.json(error_record(exc, args.stage))
        return exc.exit_code
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130


def entry():
    """The `shipway` command and `python -m pipeline`."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
