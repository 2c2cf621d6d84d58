"""Figure 5, CLI start: wall time and peak memory of `shipway --help` and `shipway status`.

Each command is run next to what a user would run instead, A B C A B C ...:

    help     python -m pipeline --help           | docker --help          | python3 -c pass
    status   python -m pipeline status --service X | docker service inspect X | python3 -c pass

`python3 -c pass` (the same interpreter, same site-packages) is the floor any Python CLI
pays. Peak memory is the child's own max RSS (os.wait4). X is a service deployed with
shipway for the benchmark (the example image, releases a then b, one replica; removed at
the end), or an existing one given with --service. Targets: --help under 0.3 s (docker and
jenkins are imported lazily), peak memory under 60 MB.

By default shipway is timed as a user installs it (`pip install .` into a fresh venv, its
`shipway` script, and that venv's python for the floor); `--install checkout` times this
checkout's `python -m pipeline` instead.

    python bench/cli_start.py [--pairs 10] [--service NAME] [--install venv|checkout]
"""
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib  # noqa: E402
import _measure  # noqa: E402

HELP_TARGET_S = 0.3
MEMORY_TARGET_MB = 60


class BenchService:
    """A service deployed by shipway (releases a, then b) for `status` to look at."""

    def __init__(self, env):
        self.env = env
        self.name = _lib.random_name("bench-cli")
        self.repo = f"{env['SHIPWAY_REGISTRY']}/bench/{self.name}"
        self.tmp = tempfile.mkdtemp(prefix="bench-cli-")
        self.refs = []
        self.digests = []

    def __enter__(self):
        try:
            context = _lib.example_copy(self.tmp)
            with _lib.docker_cli_config(self.env) as cli_env:
                for tag in ("a", "b"):
                    ref = f"{self.repo}:{tag}"
                    self.digests.append(_lib.cli_build_push(context, ref, cli_env,
                                                            [f"VERSION=bench-{tag}"]))
                    self.refs.append(ref)
            ship_env = {**self.env, "PYTHONPATH": _lib.ROOT,
                        "SHIPWAY_STATE_DIR": os.path.join(self.tmp, "state")}
            for ref in self.refs:
                _lib.run(_lib.shipway("deploy", "--service", self.name, "--image", ref,
                                      "--replicas", "1", "--stop-grace-period", "1s",
                                      "--timeout", "120"), ship_env, timeout=300)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc):
        _lib.remove_service(self.name, self.env)
        registry = _lib.Registry(self.env)
        for digest in self.digests:
            registry.delete(f"bench/{self.name}", digest)
        _lib.remove_images(self.refs, self.env)
        shutil.rmtree(self.tmp, ignore_errors=True)


def contestants(command, service, env):
    """[(name, fn(i) -> record)] for `command` ("help" or "status")."""
    ship_env = {**env, "PYTHONPATH": _lib.ROOT} if _lib.from_checkout() else dict(env)
    floor = [_lib.python(), "-c", "pass"]   # the same interpreter and site-packages
    if command == "help":
        shipway, docker = _lib.shipway("--help"), [_lib.DOCKER, "--help"]
    else:
        shipway = _lib.shipway("status", "--service", service)
        docker = [_lib.DOCKER, "service", "inspect", service]

    def runner(cmd, run_env):
        def run(_i):
            done = _measure.run_measured(cmd, run_env, timeout=120, check=False)
            # `shipway` with no stage prints usage and exits 2, but --help exits 0.
            if done["code"] != 0:
                raise RuntimeError(f"{' '.join(cmd)} exited {done['code']}: "
                                   f"{done['stderr'][-500:]}")
            return {"seconds": round(done["seconds"], 4), "max_rss_mb": done["max_rss_mb"]}
        return run

    return [("shipway", runner(shipway, ship_env)), ("docker", runner(docker, env)),
            ("python-floor", runner(floor, env))]


def summarise(command, results):
    out = {}
    for name, runs in results.items():
        out[name] = {"median_s": round(statistics.median(r["seconds"] for r in runs), 4),
                     "median_max_rss_mb": round(_lib.median([r["max_rss_mb"] for r in runs]), 1),
                     "max_max_rss_mb": max(r["max_rss_mb"] for r in runs),
                     "runs": runs}
    for other in ("docker", "python-floor"):
        compared = _lib.compare(results["shipway"], results[other], "shipway", other)
        out[f"ratio_vs_{other}"] = {"median_ratio": compared["median_ratio"],
                                    "ratio_of_medians": compared["ratio_of_medians"]}
    memory_met = out["shipway"]["max_max_rss_mb"] < MEMORY_TARGET_MB
    if command == "help":
        out["target"] = f"under {HELP_TARGET_S} s, peak memory under {MEMORY_TARGET_MB} MB"
        out["met"] = out["shipway"]["median_s"] < HELP_TARGET_S and memory_met
    else:
        out["target"] = f"peak memory under {MEMORY_TARGET_MB} MB"
        out["met"] = memory_met
    return out


def main():
    p = _lib.parser(__doc__, pairs=10)
    p.add_argument("--service", metavar="NAME",
                   help="an existing swarm service for `status` (default: deploy one)")
    _lib.add_install_argument(p)
    args = p.parse_args()
    env = _lib.lab_env()
    with _lib.installed(args.install):
        figures = run_figures(args, env)
    report(args, figures)


def run_figures(args, env):
    figures = {}
    if args.service:
        service = None
        name = args.service
    else:
        _lib.log("deploying a service with shipway for `status` (releases a, b)")
        service = BenchService(env).__enter__()
        name = service.name
    try:
        for command in ("help", "status"):
            _lib.log(f"command {command}")
            results = _measure.rotate(args.pairs, contestants(command, name, env))
            figures[command] = summarise(command, results)
    finally:
        if service is not None:
            service.__exit__()
    return figures


def report(args, figures):
    result = {
        "what": "CLI start: shipway --help and shipway status --service X vs docker --help "
                "and docker service inspect X (/usr/bin/docker), with python3 -c pass as "
                "the floor; wall time and the child's peak RSS",
        "pairs": args.pairs, "python": sys.executable, "shipway_install": args.install,
        "commands": figures,
    }
    _lib.write_results("cli_start", result, args.out)
    rows = []
    for command, data in figures.items():
        for name in ("shipway", "docker", "python-floor"):
            ratio = data.get(f"ratio_vs_{name}", {}).get("median_ratio", "")
            rows.append([command, name, _lib.fmt(data[name]["median_s"]),
                         f"{data[name]['median_max_rss_mb']} MB", ratio,
                         ("met" if data["met"] else "MISSED") if name == "shipway" else ""])
    _lib.print_table(rows, ["command", "tool", "median", "peak RSS", "shipway/this",
                            "target"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
