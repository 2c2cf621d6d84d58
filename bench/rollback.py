"""Figure 2, rollback: `shipway rollback` vs `docker service update --rollback --detach=false`.

The service (3 replicas of the health-checked example image) is deployed with shipway at
release A, then B, so that both swarm's PreviousSpec and shipway's release history point at A.
Then, alternating, only the rollbacks are timed:

    shipway rollback (B -> A)   | redeploy B with shipway (not timed)
    docker --rollback (B -> A)  | redeploy B with shipway (not timed) | ...

Both restore the same spec. `shipway rollback` applies the recorded release's spec as an
update, so swarm paces it with the UpdateConfig; `docker --rollback` is paced with the
RollbackConfig. By default both configs are the same (parallelism 1, delay 1s, start-first,
monitor 3s), so both sides do the same work. `--configs example` uses the example catalog's
pair instead (update delay 1s, rollback delay 0s) to show what that difference costs.

    python bench/rollback.py [--pairs 5] [--configs same|example]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib  # noqa: E402
import swarmtimes  # noqa: E402
from deploy import REPLICAS, ROLLBACK, UPDATE, Fixture, guarantee_report, summarise  # noqa: E402

EXAMPLE_ROLLBACK = {"parallelism": 1, "delay": "0s", "order": "start-first",
                    "failure_action": "pause", "monitor": "3s", "max_failure_ratio": 0}


def main():
    p = _lib.parser(__doc__)
    p.add_argument("--configs", choices=("same", "example"), default="same",
                   help="rollback config equal to the update config (default), or the "
                        "example catalog's (rollback delay 0s)")
    _lib.add_install_argument(p)
    args = p.parse_args()
    env = _lib.lab_env()
    rollback_config = ROLLBACK if args.configs == "same" else EXAMPLE_ROLLBACK
    with _lib.installed(args.install), \
            Fixture(env, "bench-rollback", UPDATE, rollback_config,
                    # every pair records two releases of B: release A must not be pruned
                    keep_releases=max(10, 2 * args.pairs + 4)) as fx:
        _lib.log(f"service {fx.name}: release A, then B, with shipway")
        fx.shipway("deploy", "--image", f"{fx.repo}:a")
        fx.shipway("deploy", "--image", f"{fx.repo}:b")
        fx.follow_deaths()

        def spec_config(kind):
            return fx.api.inspect_service(fx.name)["Spec"][kind]

        def timed(fn, args, kind):
            wall_start = time.time()
            seconds, _ = fn(*args)
            wall_end = time.time()
            record = {"seconds": round(seconds, 4)}
            record.update(swarmtimes.timeline(fx.api, fx.name, wall_start - 0.5, wall_start,
                                              wall_end, spec_config(kind), fx.deaths))
            image = fx.api.inspect_service(fx.name)["Spec"]["TaskTemplate"]["ContainerSpec"]
            if fx.digests["a"] not in image["Image"]:
                raise RuntimeError(f"the rollback did not go back to A: {image['Image']}")
            return record

        def with_shipway(_i):
            return timed(fx.shipway, ("rollback",), "UpdateConfig")

        def with_cli(_i):
            return timed(fx.cli, ("service", "update", "--rollback", "--detach=false",
                                  fx.name), "RollbackConfig")

        def redeploy_b(_i, _which):
            fx.shipway("deploy", "--image", f"{fx.repo}:b")
            swarmtimes.settle(fx.api, fx.name)

        a_runs, b_runs = _lib.alternate(args.pairs, with_shipway, with_cli, reset=redeploy_b)
        spec = fx.api.inspect_service(fx.name)["Spec"]
    result = {
        "what": "shipway rollback (to the previous recorded release) vs docker service update "
                f"--rollback --detach=false (/usr/bin/docker), {REPLICAS} replicas, same service",
        "configs": args.configs,
        "pairs": args.pairs,
        "shipway_install": args.install,
        "update_config": spec["UpdateConfig"],
        "rollback_config": spec["RollbackConfig"],
        **_lib.compare(a_runs, b_runs, "shipway", "docker_cli"),
        "shipway_detail": summarise(a_runs),
        "docker_cli_detail": summarise(b_runs),
        "targets": {"ratio_to_cli": "<= 1.0"},
    }
    guarantee_report(result)
    figure = "rollback" if args.configs == "same" else "rollback-example-configs"
    _lib.write_results(figure, result, args.out)
    s, c = result["shipway_detail"], result["docker_cli_detail"]
    _lib.print_table([
        ["shipway rollback", _lib.fmt(s["median_s"]), _lib.fmt(s["swarm_median_s"]),
         _lib.fmt(s["before_swarm_median_s"]), _lib.fmt(s["after_swarm_median_s"])],
        ["docker service update --rollback", _lib.fmt(c["median_s"]),
         _lib.fmt(c["swarm_median_s"]), _lib.fmt(c["before_swarm_median_s"]),
         _lib.fmt(c["after_swarm_median_s"])],
    ], ["rollback", "median", "swarm", "before swarm", "after swarm"])
    print(f"median ratio shipway/docker: {result['median_ratio']} (target <= 1.0)")


if __name__ == "__main__":
    main()
