"""Figure 1, deploy: `shipway deploy` vs `docker service update --image ... --detach=false`.

One service, 3 replicas of the health-checked example image (FROM scratch, HEALTHCHECK every
1 s), on the lab's `proxy` overlay network; both tools update that same service, so they run
under the same UpdateConfig (parallelism 1, delay 1s, start-first, monitor 3s, failure action
rollback). Both resolve the tag's digest in the registry and send the registry credentials
(`--with-registry-auth` for the CLI, logged in through a throw-away DOCKER_CONFIG). Runs
alternate: shipway A->B, CLI B->A, shipway A->B, ...

Also reported, from swarm's own timeline of every run: swarm's update time (StartedAt ->
CompletedAt), what each tool adds before and after it, and the lower bound of the update:
batches x (task start + time to healthy) + batches x delay + monitor, with the task times
measured on the run itself; and the settled bound, the same with (batches - 1) x delay: swarm
idles `delay` after the last batch before it says `completed`, but can no longer fail the
update then, so neither tool waits for it.

    python bench/deploy.py [--pairs 5]
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib  # noqa: E402
import swarmtimes  # noqa: E402

REPLICAS = 3
UPDATE = {"parallelism": 1, "delay": "1s", "order": "start-first",
          "failure_action": "rollback", "monitor": "3s", "max_failure_ratio": 0}
ROLLBACK = {"parallelism": 1, "delay": "1s", "order": "start-first",
            "failure_action": "pause", "monitor": "3s", "max_failure_ratio": 0}


def catalog_text(name, repo, update=UPDATE, rollback=ROLLBACK, replicas=REPLICAS,
                 keep_releases=None):
    def flow(mapping):
        return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"

    keep = f"\n      keep_releases: {keep_releases}" if keep_releases else ""
    return f"""version: 1
services:
  {name}:
    image: {repo}
    context: hello
    networks: [proxy]
    stop_grace_period: 2s
    deploy:
      replicas: {replicas}
      timeout: 120s
      with_registry_auth: true{keep}
      update_config: {flow(update)}
      rollback_config: {flow(rollback)}
"""


class Fixture:
    """A service of the example image with tags a and b pushed; removed on exit."""

    def __init__(self, env, prefix, update=UPDATE, rollback=ROLLBACK, keep_releases=None):
        import docker

        self.env = env
        self.name = _lib.random_name(prefix)
        self.repo = f"{env['SHIPWAY_REGISTRY']}/bench/{self.name}"
        self.tmp = tempfile.mkdtemp(prefix=f"{prefix}-")
        self.catalog = os.path.join(self.tmp, "catalog.yml")
        with open(self.catalog, "w", encoding="utf-8") as handle:
            handle.write(catalog_text(self.name, self.repo, update, rollback,
                                      keep_releases=keep_releases))
        self.ship_env = {**env, "SHIPWAY_STATE_DIR": os.path.join(self.tmp, "state"),
                         "BUILD_NUMBER": "1", "JOB_NAME": "bench"}
        self.api = docker.from_env(timeout=60).api
        self.digests = {}
        self._cli = None
        self.deaths = None

    def __enter__(self):
        self._cli = _lib.docker_cli_config(self.env)
        self.cli_env = self._cli.__enter__()
        context = _lib.example_copy(self.tmp)
        for tag in ("a", "b"):
            self.digests[tag] = _lib.cli_build_push(
                context, f"{self.repo}:{tag}", self.cli_env, [f"VERSION=bench-{tag}"])
        return self

    def follow_deaths(self):
        """Record the service's container deaths from now on (the service must exist)."""
        self.deaths = swarmtimes.Deaths(self.api, self.api.inspect_service(self.name)["ID"])

    def __exit__(self, *exc):
        if self.deaths is not None:
            self.deaths.close()
        _lib.remove_service(self.name, self.env)
        _lib.wait_tasks_gone(self.name, self.env)
        _lib.remove_images(_lib.images_of_repository(self.repo, self.env), self.env)
        registry = _lib.Registry(self.env)
        for digest in self.digests.values():
            try:
                registry.delete(f"bench/{self.name}", digest)
            except OSError as exc:
                _lib.log(f"could not delete {self.repo}@{digest}: {exc}")
        if self._cli:
            self._cli.__exit__(None, None, None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def shipway(self, *args, timeout=300):
        return _lib.run(_lib.shipway(*args, "--catalog", self.catalog, "--service", self.name),
                        self.ship_env, timeout=timeout)

    def cli(self, *args, timeout=300):
        return _lib.run([_lib.DOCKER, *args], self.cli_env, timeout=timeout)

    def update_config(self):
        return self.api.inspect_service(self.name)["Spec"]["UpdateConfig"]

    def timed(self, fn, *args):
        """Run fn(*args) -> (seconds, proc); return seconds and swarm's timeline of it."""
        wall_start = time.time()
        seconds, _ = fn(*args)
        wall_end = time.time()
        record = {"seconds": round(seconds, 4)}
        record.update(swarmtimes.timeline(self.api, self.name, wall_start - 0.5, wall_start,
                                          wall_end, self.update_config(), self.deaths))
        return record


def main():
    p = _lib.parser(__doc__)
    _lib.add_install_argument(p)
    args = p.parse_args()
    env = _lib.lab_env()
    with _lib.installed(args.install), Fixture(env, "bench-deploy") as fx:
        _lib.log(f"service {fx.name}: creating with {REPLICAS} replicas of {fx.repo}:a")
        fx.shipway("deploy", "--image", f"{fx.repo}:a")
        fx.follow_deaths()

        def with_shipway(_i):
            return fx.timed(fx.shipway, "deploy", "--image", f"{fx.repo}:b")

        def with_cli(_i):
            return fx.timed(fx.cli, "service", "update", "--image", f"{fx.repo}:a",
                            "--with-registry-auth", "--detach=false", fx.name)

        a_runs, b_runs = _lib.alternate(args.pairs, with_shipway, with_cli)
        config = fx.update_config()
    report(args, a_runs, b_runs, config)


def summarise(runs):
    med = _lib.median
    return {
        "median_s": round(med([r["seconds"] for r in runs]), 4),
        "swarm_median_s": round(med([r["swarm_s"] for r in runs if r["swarm_s"]]), 4),
        "before_swarm_median_s": round(med([r["before_swarm_s"] for r in runs
                                            if r["before_swarm_s"] is not None]), 4),
        "after_swarm_median_s": round(med([r["after_swarm_s"] for r in runs
                                           if r["after_swarm_s"] is not None]), 4),
        "lower_bound_median_s": round(med([r["lower_bound_s"] for r in runs]), 4),
        "ratio_to_lower_bound_median": round(med([r["seconds"] / r["lower_bound_s"]
                                                  for r in runs]), 3),
        "lower_bound_settled_median_s": round(med([r["lower_bound_settled_s"]
                                                   for r in runs]), 4),
        "ratio_to_settled_bound_median": round(med([r["seconds"] / r["lower_bound_settled_s"]
                                                    for r in runs]), 3),
        "ratio_to_lower_bound_no_monitor_median": round(med(
            [r["seconds"] / r["lower_bound_no_monitor_s"] for r in runs]), 3),
        **guarantee_summary(runs),
        "runs": runs,
    }


def guarantee_summary(runs):
    """How often, and by how much, a tool returned while a container of the replaced image
    still ran (from the engine's die events), and its median time had it waited for them."""
    after = [r["old_ran_after_return_s"] for r in runs
             if r.get("old_ran_after_return_s") is not None]
    if not after:
        return {}
    return {
        "returned_with_old_running": f"{sum(1 for a in after if a > 0)}/{len(after)}",
        "old_ran_after_return_median_s": round(_lib.median(after), 4),
        "with_guarantee_median_s": round(_lib.median(
            [with_guarantee(r) for r in runs]), 4),
    }


def with_guarantee(run):
    """The run's time had the tool also waited until no old container ran."""
    return run["seconds"] + max(0.0, run.get("old_ran_after_return_s") or 0.0)


def guarantee_report(result):
    """The same-guarantee comparison: shipway against the CLI plus its wait for the last
    old container (derived from the CLI's runs, not a separate tool); and the floor: the
    CLI's whole start against that wait. Adds its keys to `result` and prints two lines."""
    s, c = result["shipway_detail"], result["docker_cli_detail"]
    if "returned_with_old_running" not in c:
        return
    a_runs, b_runs = s["runs"], c["runs"]
    ratios = [a["seconds"] / with_guarantee(b) for a, b in zip(a_runs, b_runs)]
    result["median_ratio_to_cli_with_guarantee"] = round(_lib.median(ratios), 3)
    print(f"returned while an old container still ran: shipway {s['returned_with_old_running']}"
          f" runs (median {s['old_ran_after_return_median_s']:+.3f} s), docker "
          f"{c['returned_with_old_running']} runs (median "
          f"{c['old_ran_after_return_median_s']:+.3f} s; it started swarm "
          f"{c['before_swarm_median_s']:.3f} s after it started)")
    print(f"median ratio shipway / (docker + its wait for the old containers): "
          f"{result['median_ratio_to_cli_with_guarantee']}")


def report(args, a_runs, b_runs, config):
    result = {
        "what": "shipway deploy vs docker service update --image --detach=false "
                f"(/usr/bin/docker), {REPLICAS} replicas, same service and UpdateConfig",
        "pairs": args.pairs,
        "shipway_install": args.install,
        "update_config": config,
        **_lib.compare(a_runs, b_runs, "shipway", "docker_cli"),
        "shipway_detail": summarise(a_runs),
        "docker_cli_detail": summarise(b_runs),
        "targets": {"ratio_to_cli": "<= 1.0", "ratio_to_lower_bound": "<= 1.3"},
    }
    guarantee_report(result)
    _lib.write_results("deploy", result, args.out)
    s, c = result["shipway_detail"], result["docker_cli_detail"]
    _lib.print_table([
        ["shipway deploy", _lib.fmt(s["median_s"]), _lib.fmt(s["swarm_median_s"]),
         _lib.fmt(s["before_swarm_median_s"]), _lib.fmt(s["after_swarm_median_s"]),
         _lib.fmt(s["lower_bound_median_s"]), s["ratio_to_lower_bound_median"]],
        ["docker service update", _lib.fmt(c["median_s"]), _lib.fmt(c["swarm_median_s"]),
         _lib.fmt(c["before_swarm_median_s"]), _lib.fmt(c["after_swarm_median_s"]),
         _lib.fmt(c["lower_bound_median_s"]), c["ratio_to_lower_bound_median"]],
    ], ["deploy", "median", "swarm", "before swarm", "after swarm", "lower bound",
        "x lower bound"])
    print(f"median ratio shipway/docker: {result['median_ratio']} (target <= 1.0); "
          f"shipway / lower bound: {s['ratio_to_lower_bound_median']} (target <= 1.3; "
          f"{s['ratio_to_lower_bound_no_monitor_median']} against the bound without monitor, "
          f"{s['ratio_to_settled_bound_median']} against the settled bound "
          f"{_lib.fmt(s['lower_bound_settled_median_s'])}: no delay after the last batch)")


if __name__ == "__main__":
    main()
