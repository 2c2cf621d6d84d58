"""What every benchmark script shares: the lab, timing, A/B alternation, results, cleanup.

Each script alternates shipway (A) and the alternative (B) on identical work, A B A B ...,
prints the median of each and the median of the per-pair ratios A/B, and writes the whole
record (every run, the machine, the versions) to bench/results/<figure>.json.

Only loopback is ever contacted: the lab's engine (unix socket or DOCKER_HOST), its registry
on 127.0.0.1, the Jenkins double on 127.0.0.1.
"""
import argparse
import base64
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # pipeline and tests.support, whether installed or not
RESULTS_DIR = os.path.join(ROOT, "bench", "results")
EXAMPLE = os.path.join(ROOT, "examples", "hello")
DOCKER = "/usr/bin/docker"   # Debian's client (20.10): the CLI alternative
LAB_DIR = os.environ.get("SHIPWAY_LAB_DIR", "/var/lib/shipway-lab")
RELEASE_LABEL = "shipway.release.service"


# ---------------------------------------------------------------------------- arguments

def parser(doc, pairs=5):
    """argparse with --pairs and --out, the flags every script takes."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.strip().splitlines()[1:]))
    p.add_argument("--pairs", type=int, default=pairs,
                   help=f"A/B pairs to run (default {pairs}; at least 1)")
    p.add_argument("--out", metavar="FILE",
                   help="results JSON (default bench/results/<figure>.json)")
    return p


# ---------------------------------------------------------------------------- the lab

def _read_lab_env():
    path = os.path.join(LAB_DIR, "env")
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, sep, value = line.strip().partition("=")
            if sep and (key.startswith("SHIPWAY_") or key == "DOCKER_HOST"):
                values[key] = value
    return values


def _lab_ok(env):
    engine = subprocess.run([DOCKER, "info", "--format", "{{.Swarm.LocalNodeState}}"],
                            env=env, capture_output=True, text=True, timeout=30)
    if engine.returncode != 0 or engine.stdout.strip() != "active":
        return False
    try:
        urllib.request.urlopen(f"http://{env['SHIPWAY_REGISTRY']}/v2/", timeout=5)
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # up, and asks for the credentials
    except OSError:
        return False
    return True


def lab_env():
    """os.environ plus the lab's settings; runs lab/up (idempotent) once if the lab is down."""
    for attempt in (1, 2, 3):
        try:
            env = {**os.environ, **_read_lab_env()}
            if _lab_ok(env):
                return env
        except (OSError, subprocess.TimeoutExpired, KeyError):
            pass
        if attempt == 1:
            log("the lab does not answer: running lab/up")
            subprocess.run([os.path.join(ROOT, "lab", "up")], check=False, timeout=600)
        else:
            time.sleep(5)  # someone else may be restarting it
    sys.exit("bench: the lab is not usable (docker info / registry); run lab/up")


def registry_password(env):
    with open(env["SHIPWAY_REGISTRY_PASSWORD_FILE"], encoding="utf-8") as handle:
        return handle.read().strip()


@contextlib.contextmanager
def docker_cli_config(env):
    """A throw-away DOCKER_CONFIG logged in to the lab registry (password on stdin)."""
    directory = tempfile.mkdtemp(prefix="bench-docker-config-")
    try:
        os.chmod(directory, 0o700)
        cli_env = {**env, "DOCKER_CONFIG": directory}
        subprocess.run([DOCKER, "login", env["SHIPWAY_REGISTRY"], "-u",
                        env["SHIPWAY_REGISTRY_USER"], "--password-stdin"],
                       input=registry_password(env), env=cli_env, text=True, check=True,
                       capture_output=True, timeout=60)
        yield cli_env
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------------------- running

def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(cmd, env, *, timeout=300, cwd=None, check=True, input=None):
    """Run `cmd`; returns (wall seconds, CompletedProcess). Output is captured."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, input=input, capture_output=True, text=True,
                          timeout=timeout)
    seconds = time.perf_counter() - start
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} ... exited {done.returncode}:\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return seconds, done


_VENV = [None]   # the venv of installed("venv") while its block runs; None: this checkout


def shipway(*args):
    """argv of shipway: by default this checkout's `python -m pipeline` (the console script's
    code); inside installed("venv"), the console script of a venv that has it installed."""
    if _VENV[0]:
        return [os.path.join(_VENV[0], "bin", "shipway"), *args]
    return [sys.executable, "-m", "pipeline", *args]


def python():
    """The interpreter that runs the timed shipway (for a floor: `python -c pass`)."""
    return os.path.join(_VENV[0], "bin", "python") if _VENV[0] else sys.executable


def from_checkout():
    """True unless inside installed("venv"): shipway runs from this checkout."""
    return _VENV[0] is None


def add_install_argument(p):
    """--install venv|checkout: how the timed shipway is installed (see installed())."""
    p.add_argument("--install", choices=("venv", "checkout"), default="venv",
                   help="time shipway as a user installs it: `pip install .` into a fresh "
                        "venv, its `shipway` script (default); or this checkout's "
                        "`python -m pipeline` (with whatever .pth files this Python runs)")


@contextlib.contextmanager
def installed(mode):
    """Within the block, shipway() runs shipway installed as `mode` says. "venv": this
    checkout installed (not editable) into a throw-away venv, its own site-packages only,
    removed afterwards. Why: every Python start runs the .pth files of its site-packages,
    and this machine's base Python has two a user's install would not: the editable
    install's finder and the sandbox's certifi hook (40-50 ms of every start here)."""
    if mode != "venv":
        yield
        return
    directory = tempfile.mkdtemp(prefix="bench-venv-")
    try:
        log(f"installing shipway into a venv ({directory}): pip install {ROOT}")
        subprocess.run([sys.executable, "-m", "venv", directory], check=True, timeout=300)
        subprocess.run([os.path.join(directory, "bin", "pip"), "install", "-q",
                        "--disable-pip-version-check", ROOT], check=True, timeout=900,
                       capture_output=True)
        os.environ.pop("PYTHONPATH", None)   # would put the checkout before the venv
        _VENV[0] = directory
        yield
    finally:
        _VENV[0] = None
        shutil.rmtree(directory, ignore_errors=True)


def random_name(prefix):
    return f"{prefix}-{secrets.token_hex(3)}"


def alternate(pairs, a, b, *, reset=None):
    """A B A B ...: returns ([a results], [b results]). `reset(i, "a"|"b")` runs untimed after
    each run (to put the subject back where the next run expects it)."""
    a_runs, b_runs = [], []
    for i in range(max(1, pairs)):
        a_runs.append(a(i))
        log(f"pair {i + 1}/{pairs}: A {_show(a_runs[-1])}")
        if reset:
            reset(i, "a")
        b_runs.append(b(i))
        log(f"pair {i + 1}/{pairs}: B {_show(b_runs[-1])}")
        if reset:
            reset(i, "b")
    return a_runs, b_runs


def _show(result):
    seconds = result["seconds"] if isinstance(result, dict) else result
    return f"{seconds:.3f}s"


def seconds_of(runs):
    return [r["seconds"] if isinstance(r, dict) else r for r in runs]


def compare(a_runs, b_runs, a_name="shipway", b_name="alternative"):
    """Medians and the median of per-pair ratios A/B (pairs are adjacent runs)."""
    a, b = seconds_of(a_runs), seconds_of(b_runs)
    ratios = [x / y for x, y in zip(a, b) if y > 0]
    return {
        a_name: {"median_s": round(statistics.median(a), 4), "runs_s": [round(x, 4) for x in a]},
        b_name: {"median_s": round(statistics.median(b), 4), "runs_s": [round(x, 4) for x in b]},
        "median_ratio": round(statistics.median(ratios), 3) if ratios else None,
        "ratio_of_medians": round(statistics.median(a) / statistics.median(b), 3),
    }


def median(values):
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------- results

def _version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    """What the numbers were measured on."""
    from pipeline import __version__

    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(), "shipway": __version__,
        "git_head": _version(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "docker_client": _version([DOCKER, "--version"]),
        "docker_engine": _version([DOCKER, "version", "--format", "{{.Server.Version}}"]),
    }


def write_results(figure, data, out=None):
    """bench/results/<figure>.json (or `out`), with the machine it ran on."""
    path = out or os.path.join(RESULTS_DIR, f"{figure}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    record = {"figure": figure, "machine": machine(), **data}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, sort_keys=False)
        handle.write("\n")
    log(f"results written to {os.path.relpath(path, os.getcwd())}")
    return path


def print_table(rows, headers):
    """A small aligned table on stdout."""
    table = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for n, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def fmt(seconds):
    return "-" if seconds is None else f"{seconds:.3f}s"


# ---------------------------------------------------------------------------- the example

def example_copy(directory, version="1.0.0"):
    """examples/hello copied to `directory`/hello and built (make); returns its path."""
    target = os.path.join(directory, "hello")
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("dist", "dist.tmp"))
    subprocess.run(["make", "-s"], cwd=target, env={**os.environ, "VERSION": version},
                   check=True, capture_output=True, timeout=120)
    return target


def proxied_catalog(path, service, repo, replicas, update, rollback, extra=""):
    """Write the catalog of the hello example (copied to `hello/` beside `path`) as service
    `service` behind the lab's proxy, with bench-sized timings; `update`/`rollback`: its
    update_config and rollback_config flow maps; `extra`: more lines of its deploy block."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"""services:
  {service}:
    image: {repo}
    build: make
    workdir: hello
    context: hello
    networks: [proxy]
    stop_grace_period: 1s
    deploy:
      replicas: {replicas}
      timeout: 120s
      labels: {{shipway.bench: "true"}}
      update_config: {update}
      rollback_config: {rollback}
{extra}""")
    return path


def cli_build_push(context, reference, cli_env, build_args=()):
    """docker build + push with the CLI (setup work, not timed); returns the digest."""
    cmd = [DOCKER, "build", "-q", "-t", reference]
    for arg in build_args:
        cmd += ["--build-arg", arg]
    run(cmd + [context], cli_env, timeout=300)
    _, pushed = run([DOCKER, "push", reference], cli_env, timeout=300)
    for line in pushed.stdout.splitlines():
        if "digest: sha256:" in line:
            return line.split("digest: ", 1)[1].split()[0]
    raise RuntimeError(f"no digest in the push output of {reference}")


# ---------------------------------------------------------------------------- registry

class Registry:
    """The lab registry's HTTP API (basic auth, loopback) and its blob store on disk."""

    def __init__(self, env):
        self.host = env["SHIPWAY_REGISTRY"]
        token = f"{env['SHIPWAY_REGISTRY_USER']}:{registry_password(env)}"
        self._auth = "Basic " + base64.b64encode(token.encode()).decode()
        self.blob_dir = os.path.join(env.get("SHIPWAY_LAB_DIR", LAB_DIR), "registry-data",
                                     "docker", "registry", "v2", "blobs")

    def _request(self, method, path, accept=None):
        request = urllib.request.Request(f"http://{self.host}/v2/{path}", method=method)
        request.add_header("Authorization", self._auth)
        if accept:
            request.add_header("Accept", accept)
        return urllib.request.urlopen(request, timeout=30)

    def digest(self, repository, tag):
        accept = ("application/vnd.docker.distribution.manifest.v2+json,"
                  "application/vnd.oci.image.manifest.v1+json")
        with self._request("HEAD", f"{repository}/manifests/{tag}", accept) as answer:
            return answer.headers["Docker-Content-Digest"]

    def manifest(self, repository, reference):
        """The image manifest (a dict) of a tag or digest."""
        accept = ("application/vnd.docker.distribution.manifest.v2+json,"
                  "application/vnd.oci.image.manifest.v1+json")
        with self._request("GET", f"{repository}/manifests/{reference}", accept) as answer:
            return json.loads(answer.read())

    def pushed_bytes(self, repository, reference, blobs_before):
        """What a push of `reference` uploaded: the blobs its manifest references (config and
        layers) that the registry did not hold in `blobs_before` (a `blobs()` snapshot), with
        their stored sizes. Returns {"bytes": n, "blobs": [{digest, size, kind}], "layers": n}."""
        manifest = self.manifest(repository, reference)
        stored = self.blobs()
        parts = [("config", manifest["config"])] + [("layer", d) for d in manifest["layers"]]
        new = []
        for kind, descriptor in parts:
            digest = descriptor["digest"]
            key = digest.split(":", 1)[1]
            if key not in blobs_before:
                new.append({"digest": digest, "kind": kind,
                            "size": stored.get(key, descriptor.get("size", 0))})
        return {"bytes": sum(b["size"] for b in new), "blobs": new,
                "layers": len(manifest["layers"]),
                "image_bytes": sum(d.get("size", 0) for _k, d in parts)}

    def delete(self, repository, digest):
        """Delete a manifest (its tags go with it); blobs stay until the registry's GC."""
        try:
            self._request("DELETE", f"{repository}/manifests/{digest}").close()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise

    def blobs(self):
        """{digest: size} of every blob stored (layers, configs, manifests)."""
        found = {}
        for top, _dirs, files in os.walk(self.blob_dir):
            if "data" in files:
                path = os.path.join(top, "data")
                found[os.path.basename(top)] = os.path.getsize(path)
        return found


def repository_of(reference):
    """127.0.0.1:5000/a/b:tag -> a/b"""
    path = reference.split("/", 1)[1]
    return path.split("@")[0].rsplit(":", 1)[0] if ":" in path.split("/")[-1] else path


# ---------------------------------------------------------------------------- cleanup

def remove_service(name, env):
    """The service and its shipway release records (configs labelled with it)."""
    subprocess.run([DOCKER, "service", "rm", name], env=env, capture_output=True, timeout=60)
    listed = subprocess.run([DOCKER, "config", "ls", "-q", "--filter",
                             f"label={RELEASE_LABEL}={name}"],
                            env=env, capture_output=True, text=True, timeout=60)
    ids = listed.stdout.split()
    if ids:
        subprocess.run([DOCKER, "config", "rm", *ids], env=env, capture_output=True,
                       timeout=60)


def remove_images(references, env):
    """Local images by reference (tags), then dangling leftovers are not touched."""
    if references:
        subprocess.run([DOCKER, "image", "rm", "-f", *references], env=env,
                       capture_output=True, timeout=120)


def images_of_repository(repository, env):
    """Every local tag of `repository` (REPO:TAG lines)."""
    listed = subprocess.run([DOCKER, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                             repository], env=env, capture_output=True, text=True, timeout=60)
    return [line for line in listed.stdout.split() if not line.endswith(":<none>")]


def image_ids_of_repository(repository, env):
    listed = subprocess.run([DOCKER, "image", "ls", "-q", "--no-trunc", repository], env=env,
                            capture_output=True, text=True, timeout=60)
    return sorted(set(listed.stdout.split()))


def wait_tasks_gone(name, env, timeout=60):
    """Wait until the removed service's containers are gone (bounded); whether they are."""
    from tests.support.poll import PollTimeout, poll_until

    def gone():
        listed = subprocess.run([DOCKER, "ps", "-q", "--filter",
                                 f"label=com.docker.swarm.service.name={name}"],
                                env=env, capture_output=True, text=True, timeout=30)
        return not listed.stdout.strip()

    try:
        return poll_until(gone, timeout, f"the containers of {name} to go", 0.5)
    except PollTimeout:
        return False


def run_bench(bench_class, args, report):
    """Set up `bench_class(lab_env(), args)`, run it, always clean up, then
    report(args, runs, problems, started); exit status 1 when the run itself failed."""
    import time

    started = time.monotonic()
    bench = bench_class(lab_env(), args)
    try:
        bench.setup()
        runs, problems = bench.run()
    except (RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
        log(f"error: {exc}")
        return 1
    finally:
        log("cleaning up")
        bench.cleanup()
    return report(args, runs, problems, started)
