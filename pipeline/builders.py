"""Which builder `shipway image` uses, and the BuildKit build through the docker client.

The Docker SDK speaks only the legacy builder. BuildKit needs the client side of a build
session, which the docker CLI has: built in from 18.09 to 22.x (`DOCKER_BUILDKIT=1`), through
the buildx plugin from 23.0. BuildKit rebuilds the example after a one-line change 2-3 times
as fast as the legacy builder (no container per RUN step, only changed files sent; see
bench/commit.py), so `auto` uses it wherever such a client is on PATH (the engine must be
18.09 or newer), and the legacy builder elsewhere.

Nothing secret goes into the client's argv: build-arg values travel in its environment
(`--build-arg KEY` takes the value from there), and the client reads registry logins from the
same Docker config the SDK would use (DOCKER_CONFIG).
"""
import os
import re
import subprocess
import tempfile

from pipeline.console import clean
from pipeline.context import without_secrets
from pipeline.errors import BuildError, UsageError

BUILDERS = ("auto", "buildkit", "legacy")
_VERSION = re.compile(r"version (\d+)\.(\d+)")
_BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")


def _client_env(environ):
    """The environment for the docker client: it needs none of shipway's own credentials."""
    return without_secrets(environ)


def _docker_clients(environ):
    """Every executable `docker` on PATH, in PATH order, without repeats."""
    seen, found = set(), []
    for directory in (environ.get("PATH") or os.defpath).split(os.pathsep):
        path = os.path.join(directory or ".", "docker")
        real = os.path.realpath(path)
        if real not in seen and os.path.isfile(path) and os.access(path, os.X_OK):
            seen.add(real)
            found.append(path)
    return found


def _has_buildx(environ):
    config = environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    dirs = (os.path.join(config, "cli-plugins"),) + _PLUGIN_DIRS
    return any(os.access(os.path.join(d, "docker-buildx"), os.X_OK) for d in dirs)


def buildkit_client(environ):
    """Path of the first docker client on PATH that builds with BuildKit, or None."""
    for path in _docker_clients(environ):
        try:
            shown = subprocess.run([path, "--version"], capture_output=True, text=True,
                                   timeout=10, env=_client_env(environ)).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = _VERSION.search(shown)
        if not match:
            continue
        version = (int(match.group(1)), int(match.group(2)))
        if (18, 9) <= version < (23, 0) or (version >= (23, 0) and _has_buildx(environ)):
            return path
    return None


def choose(requested, environ):
    """(builder, client path): the builder to use for `requested` (auto|buildkit|legacy).

    The engine is not asked: every engine since 18.09 has BuildKit, and asking would cost the
    Docker SDK's import and a round trip on every build (the BuildKit path needs neither).
    """
    if requested == "legacy":
        return "legacy", None
    client = buildkit_client(environ)
    if client:
        return "buildkit", client
    if requested == "buildkit":
        raise UsageError("builder buildkit is not available: no docker client with BuildKit "
                         "on PATH (20.10-22.x, or 23+ with the buildx plugin)",
                         hint="install one, or use --builder auto or legacy")
    return "legacy", None


def buildkit_build(client, environ, context, dockerfile, tags, build_args, labels, no_cache,
                   console):
    """`DOCKER_BUILDKIT=1 docker build` of `context`, tagged with every one of `tags`
    (REPO:TAG); returns the image id. Output is streamed as events; a failed build raises
    BuildError with the client's error line."""
    env = _client_env(environ)
    env["DOCKER_BUILDKIT"] = "1"
    with tempfile.TemporaryDirectory(prefix="shipway-build-") as scratch:
        iidfile = os.path.join(scratch, "iid")
        cmd = [client, "build", "--progress=plain", "--iidfile", iidfile,
               "-f", os.path.join(context, dockerfile)]
        for tag in tags:
            cmd += ["-t", tag]
        for key, value in sorted(build_args.items()):
            if not _BUILD_ARG_NAME.match(key):
                raise UsageError(f"build arg name {key!r} is not a valid variable name",
                                 hint="use letters, digits and '_' in build arg names")
            env[key] = value
            cmd += ["--build-arg", key]  # the value comes from env, never argv
        for key, value in sorted(labels.items()):
            cmd += ["--label", f"{key}={value}"]
        if no_cache:
            cmd.append("--no-cache")
        cmd.append(context)
        tail = _stream(cmd, env, console)
        if tail is not None:
            raise BuildError(f"image build failed: {_error_line(tail)}")
        try:
            with open(iidfile, encoding="ascii") as handle:
                image_id = handle.read().strip()
        except OSError:
            image_id = ""
    if not image_id:
        raise BuildError("image build ended without an image id")
    return image_id


def _stream(cmd, env, console):
    """Run `cmd`, its output as events; None on success, else its last lines."""
    try:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise BuildError(f"cannot run {cmd[0]}: {exc.strerror}") from None
    tail = []
    for line in proc.stdout:
        line = clean(line.rstrip("\n"))
        if line.strip():
            console.event("| " + line)
            tail = (tail + [line])[-20:]
    return None if proc.wait() == 0 else tail


def _error_line(tail):
    """The client's own error line: its last line that is not step output (`#N ...`) or
    the frame around a failed step's source (`------`, ` > [1/2] RUN ...`)."""
    for line in reversed(tail):
        if line.strip() and not line.startswith(("#", "-", " ")):
            return line.strip()
    for line in reversed(tail):
        if "ERROR" in line:
            return line.split("ERROR", 1)[1].lstrip(": ").strip()
    return tail[-1].strip() if tail else "the docker client failed"
