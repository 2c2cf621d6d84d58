"""`shipway build`: run the service's source build command in its work dir, streaming output."""
import os
import subprocess

from pipeline.console import clean
from pipeline.context import without_secrets
from pipeline.errors import BuildError, UsageError
from pipeline.stages import common

OVERRIDES = [("command", "build"), ("workdir", "workdir")]


def add_arguments(parser):
    common.add_service_arguments(parser)
    parser.add_argument("--command", metavar="CMD", help="build command, run with sh -c")
    parser.add_argument("--workdir", metavar="DIR", type=os.path.abspath,
                        help="directory to run it in (default: the catalog's directory)")


def run(ctx, args):
    settings = common.settings(args, OVERRIDES)
    command = common.require(settings, "build", "--command")
    workdir = common.path_of(settings, "workdir", ".")
    if not os.path.isdir(workdir):
        raise UsageError(f"build work dir {workdir} does not exist",
                         hint="fix 'workdir' in the catalog or pass --workdir")
    ctx.console.event(f"build {settings['name']}: {command} (in {workdir})")
    # The build command gets the environment without the registry password or the Jenkins
    # token: a build script that prints its environment must not print them.
    returncode = run_streaming(command, workdir, without_secrets(ctx.environ), ctx.console)
    if returncode != 0:
        raise BuildError(f"build command failed with exit status {returncode}: {command}",
                         returncode=returncode)
    ctx.console.event(f"build {settings['name']}: ok")
    return 0


def run_streaming(command, workdir, environ, console):
    """Run `sh -c command`, each output line passed to the console as it comes."""
    try:
        process = subprocess.Popen(["sh", "-c", command], cwd=workdir, env=environ,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise BuildError(f"cannot start the build command: {exc.strerror}") from None
    with process.stdout:
        for raw in process.stdout:
            console.event("| " + clean(raw.decode("utf-8", "replace").rstrip("\n")))
    return process.wait()
