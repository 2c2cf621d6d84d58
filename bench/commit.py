"""Figure 3, commit to deployed: a one-line source change built, imaged, pushed and deployed.

    A  shipway build; shipway image; shipway push; shipway deploy      (as the Jenkinsfile runs
       them: four processes, the deploy pinned to the digest push printed)
    B  make; /usr/bin/docker build -t REPO:N .; docker push REPO:N;
       docker service update --image REPO:N --with-registry-auth --detach=false SERVICE

Both work on one copy of examples/hello and one service (2 replicas, the example catalog's
update config: parallelism 1, delay 1s, start-first, monitor 3s, failure action rollback),
created once before the runs. Before every run (not timed), one line of the source changes:
hello/VERSION gets a version never built before, so each run really builds, pushes and rolls
out a new image, on a warm build cache. After every run the update is let settle (not timed).
B's `docker build` is Debian's 20.10 client, whose default is the legacy builder
(`--cli-buildkit` sets DOCKER_BUILDKIT=1 for it); A uses what `shipway image` picks by default.

Also measured, from the registry's side: the bytes each push uploaded (the blobs of the pushed
manifest the registry did not hold before the run), and, with `--builders`, the warm rebuild
alone: `shipway image --builder legacy` (the Docker SDK) vs `--builder buildkit`, alternated,
one-line change before each.

    python bench/commit.py [--pairs 5] [--cli-buildkit] [--builders] [--builder-pairs 5]
"""
import os
import secrets
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib  # noqa: E402
import swarmtimes  # noqa: E402

REPLICAS = 2
UPDATE = "{parallelism: 1, delay: 1s, order: start-first, failure_action: rollback, monitor: 3s}"
ROLLBACK = "{parallelism: 1, delay: 0s, order: start-first, failure_action: pause, monitor: 3s}"


def catalog_text(name, repo):
    return f"""version: 1
services:
  {name}:
    image: {repo}
    build: make -s
    workdir: hello
    context: hello
    networks: [proxy]
    stop_grace_period: 2s
    deploy:
      replicas: {REPLICAS}
      timeout: 120s
      with_registry_auth: true
      update_config: {UPDATE}
      rollback_config: {ROLLBACK}
"""


class Fixture:
    """A copy of the example, its catalog, and the service; all removed on exit."""

    def __init__(self, env):
        import docker

        self.env = env
        self.name = _lib.random_name("bench-commit")
        self.repository = f"bench/{self.name}"
        self.repo = f"{env['SHIPWAY_REGISTRY']}/{self.repository}"
        self.tmp = tempfile.mkdtemp(prefix="bench-commit-")
        self.catalog = os.path.join(self.tmp, "catalog.yml")
        with open(self.catalog, "w", encoding="utf-8") as handle:
            handle.write(catalog_text(self.name, self.repo))
        self.source = os.path.join(self.tmp, "hello")
        shutil.copytree(_lib.EXAMPLE, self.source,
                        ignore=shutil.ignore_patterns("dist", "dist.tmp"))
        self.ship_env = {**env, "SHIPWAY_STATE_DIR": os.path.join(self.tmp, "state"),
                         "JOB_NAME": "bench-commit"}
        self.ship_env.pop("GIT_COMMIT", None)  # one tag per build on both sides: BUILD_NUMBER
        self.api = docker.from_env(timeout=60).api
        self.registry = _lib.Registry(env)
        self.pushed = set()
        self._cli = None
        self.cli_env = None

    def __enter__(self):
        self._cli = _lib.docker_cli_config(self.env)
        self.cli_env = self._cli.__enter__()
        return self

    def __exit__(self, *exc):
        _lib.remove_service(self.name, self.env)
        _lib.wait_tasks_gone(self.name, self.env)
        _lib.remove_images(_lib.images_of_repository(self.repo, self.env), self.env)
        for digest in self.pushed:
            try:
                self.registry.delete(self.repository, digest)
            except OSError as exc:
                _lib.log(f"could not delete {self.repo}@{digest}: {exc}")
        if self._cli:
            self._cli.__exit__(None, None, None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def change_one_line(self, label):
        """The commit: hello/VERSION gets a version no run has built yet."""
        version = f"3.{label}.{secrets.token_hex(3)}"
        with open(os.path.join(self.source, "VERSION"), "w", encoding="utf-8") as handle:
            handle.write(version + "\n")
        return version

    def shipway(self, number, *args):
        env = {**self.ship_env, "BUILD_NUMBER": number}
        return _lib.run(_lib.shipway(*args, "--catalog", self.catalog, "--service", self.name),
                        env, timeout=600)

    def settle(self):
        swarmtimes.settle(self.api, self.name)

    def pushed_bytes(self, tag, blobs_before):
        digest = self.registry.digest(self.repository, tag)
        self.pushed.add(digest)
        return self.registry.pushed_bytes(self.repository, digest, blobs_before)


def with_shipway(fx, number, image_args=()):
    """The four stages, as one timed run; returns (seconds, {stage: seconds})."""
    stages = {}
    start = time.perf_counter()
    for stage, extra in (("build", ()), ("image", image_args), ("push", ()), ("deploy", ())):
        stages[stage] = round(fx.shipway(number, stage, *extra)[0], 4)
    return time.perf_counter() - start, stages


def with_cli(fx, number, buildkit):
    """The plain docker CLI script, as one timed run; returns (seconds, {step: seconds})."""
    env = dict(fx.cli_env)
    if buildkit:
        env["DOCKER_BUILDKIT"] = "1"
    ref = f"{fx.repo}:{number}"
    steps = {}
    start = time.perf_counter()
    steps["make"] = _lib.run(["make", "-s"], env, cwd=fx.source, timeout=120)[0]
    steps["build"] = _lib.run([_lib.DOCKER, "build", "-q", "-t", ref, fx.source], env,
                              timeout=600)[0]
    steps["push"] = _lib.run([_lib.DOCKER, "push", ref], env, timeout=600)[0]
    steps["deploy"] = _lib.run([_lib.DOCKER, "service", "update", "--image", ref,
                                "--with-registry-auth", "--detach=false", fx.name], env,
                               timeout=600)[0]
    return time.perf_counter() - start, {k: round(v, 4) for k, v in steps.items()}


def figure(args, fx):
    """A/B pairs of commit-to-deployed."""
    def run_a(i):
        number = f"a{i + 1}"
        version = fx.change_one_line(number)
        before = fx.registry.blobs()
        seconds, steps = with_shipway(fx, number)
        fx.settle()
        return {"seconds": round(seconds, 4), "version": version, "steps": steps,
                "pushed": fx.pushed_bytes(number, before)}

    def run_b(i):
        number = f"b{i + 1}"
        version = fx.change_one_line(number)
        before = fx.registry.blobs()
        seconds, steps = with_cli(fx, number, args.cli_buildkit)
        fx.settle()
        return {"seconds": round(seconds, 4), "version": version, "steps": steps,
                "pushed": fx.pushed_bytes(number, before)}

    return _lib.alternate(args.pairs, run_a, run_b)


def builders(args, fx):
    """A/B pairs of the warm rebuild alone: the SDK's legacy builder vs BuildKit."""
    def rebuild(builder, label):
        def run(i):
            number = f"{label}{i + 1}"
            fx.change_one_line(number)
            fx.shipway(number, "build")
            seconds, _ = fx.shipway(number, "image", "--builder", builder)
            return {"seconds": round(seconds, 4)}
        return run

    return _lib.alternate(args.builder_pairs, rebuild("legacy", "l"), rebuild("buildkit", "k"))


def step_medians(runs):
    names = runs[0]["steps"].keys()
    return {n: round(_lib.median([r["steps"][n] for r in runs]), 4) for n in names}


def pushed_summary(runs):
    return {"median_bytes": _lib.median([r["pushed"]["bytes"] for r in runs]),
            "median_blobs": _lib.median([len(r["pushed"]["blobs"]) for r in runs]),
            "image_bytes": runs[-1]["pushed"]["image_bytes"],
            "layers": runs[-1]["pushed"]["layers"]}


def main():
    p = _lib.parser(__doc__)
    p.add_argument("--cli-buildkit", action="store_true",
                   help="run B's docker build with DOCKER_BUILDKIT=1 (default: 20.10's legacy)")
    p.add_argument("--builders", action="store_true",
                   help="also time the warm rebuild alone: SDK legacy builder vs BuildKit")
    p.add_argument("--builder-pairs", type=int, default=5, help="pairs for --builders")
    args = p.parse_args()
    env = _lib.lab_env()
    with Fixture(env) as fx:
        from pipeline import builders as shipway_builders

        default_builder = shipway_builders.choose("auto", fx.ship_env)[0]
        _lib.log(f"service {fx.name}: first release (not timed); shipway's builder: "
                 f"{default_builder}")
        fx.change_one_line("0")
        with_shipway(fx, "first")
        fx.settle()
        a_runs, b_runs = figure(args, fx)
        builder_runs = builders(args, fx) if args.builders else None
    report(args, default_builder, a_runs, b_runs, builder_runs)


def report(args, default_builder, a_runs, b_runs, builder_runs):
    cli_builder = "buildkit" if args.cli_buildkit else "legacy"
    result = {
        "what": "one-line source change to deployed: shipway build+image+push+deploy vs make + "
                "docker build + docker push + docker service update --detach=false "
                f"(/usr/bin/docker), {REPLICAS} replicas, same service",
        "pairs": args.pairs,
        "shipway_builder": default_builder,
        "cli_builder": cli_builder,
        **_lib.compare(a_runs, b_runs, "shipway", "docker_cli"),
        "shipway_steps_median_s": step_medians(a_runs),
        "docker_cli_steps_median_s": step_medians(b_runs),
        "shipway_pushed": pushed_summary(a_runs),
        "docker_cli_pushed": pushed_summary(b_runs),
        "runs": {"shipway": a_runs, "docker_cli": b_runs},
        "targets": {"ratio_to_cli": "<= 1.1"},
    }
    if builder_runs:
        result["warm_rebuild"] = {
            "what": "shipway image after a one-line change: --builder legacy (Docker SDK) vs "
                    "--builder buildkit (docker CLI, DOCKER_BUILDKIT=1)",
            "pairs": args.builder_pairs,
            **_lib.compare(*builder_runs, "legacy", "buildkit"),
        }
    figure_name = "commit" + ("-cli-buildkit" if args.cli_buildkit else "")
    _lib.write_results(figure_name, result, args.out)
    s, c = result["shipway_steps_median_s"], result["docker_cli_steps_median_s"]
    sp, cp = result["shipway_pushed"], result["docker_cli_pushed"]
    _lib.print_table([
        [f"shipway ({default_builder})", _lib.fmt(result["shipway"]["median_s"]),
         _lib.fmt(s["build"]), _lib.fmt(s["image"]), _lib.fmt(s["push"]),
         _lib.fmt(s["deploy"]), f"{sp['median_bytes']:.0f} B of {sp['image_bytes']}"],
        [f"docker CLI script ({cli_builder})", _lib.fmt(result["docker_cli"]["median_s"]),
         _lib.fmt(c["make"]), _lib.fmt(c["build"]), _lib.fmt(c["push"]),
         _lib.fmt(c["deploy"]), f"{cp['median_bytes']:.0f} B of {cp['image_bytes']}"],
    ], ["commit to deployed", "median", "build/make", "image", "push", "deploy",
        "pushed (median)"])
    print(f"median ratio shipway/docker: {result['median_ratio']} (target <= 1.1)")
    if builder_runs:
        w = result["warm_rebuild"]
        print(f"warm rebuild (shipway image): legacy {_lib.fmt(w['legacy']['median_s'])}, "
              f"buildkit {_lib.fmt(w['buildkit']['median_s'])}, median ratio legacy/buildkit "
              f"{w['median_ratio']}")


if __name__ == "__main__":
    main()
