"""Figure: the multi-node lab (3 managers + 1 worker) - bring-up, deploy, rollback, failover.

1. Bring-up (unless --no-fresh): `lab/down --nodes 3+1` of the lab up, then `lab/up --nodes
   3+1` from nothing (namespaces, bridge, registry, 4 dockerds, swarm, overlay network,
   HAProxy), then once more (idempotent: checks, changes nothing); memory: the resident size
   of every lab process (dockerds, containerds, shims, containers, registry), as lab/up
   reports it.
2. Deploy and rollback, against the alternative in the same run: the same service (4 replicas
   of the health-checked example, parallelism 1, delay 1s, start-first, monitor 3s) on the
   multi-node lab (shipway's DOCKER_HOST on manager m1; every node pulls from the registry
   with the credentials deploy sends) and on the single-node lab. Alternating per pair:
   multi deploy A->B, single deploy A->B, multi rollback, single rollback. Ratios multi/single.
3. Failover (--failovers N): shipway deploys through a manager that is not the leader; once
   the update runs, the leader's dockerd is SIGKILLed. Measured from the kill: a new leader
   elected, swarm's update completed, shipway's deploy returned (and how); then the killed
   manager started again until it is reachable.

Contacts only the labs: their engines' unix sockets, the registries on 127.0.0.1 and on the
multi-node lab's bridge (10.210.0.1).

    python bench/multinode.py [--pairs 3] [--failovers 1] [--no-fresh]
"""
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib  # noqa: E402
from deploy import ROLLBACK, UPDATE, Fixture, catalog_text  # noqa: E402

from tests.support.multinode import MultiLab, wait_for  # noqa: E402

REPLICAS = 4
LAB = os.path.join(_lib.ROOT, "lab")
FIGURE_MD = os.path.join(_lib.RESULTS_DIR, "multinode.md")


class MultiFixture(Fixture):
    """deploy.py's Fixture (tags a and b pushed, removed on exit) on another lab's engine,
    with REPLICAS replicas."""

    def __init__(self, env, prefix):
        import docker

        super().__init__(env, prefix)
        with open(self.catalog, "w", encoding="utf-8") as handle:
            handle.write(catalog_text(self.name, self.repo, UPDATE, ROLLBACK, REPLICAS))
        if env.get("DOCKER_HOST"):
            self.api = docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=60).api

    def __exit__(self, *exc):
        super().__exit__(*exc)
        # the other nodes pulled the images too
        if "SHIPWAY_LAB_NODES" in self.env:
            for node_socket in self.env["SHIPWAY_LAB_NODES"].split(","):
                node_env = {**self.env, "DOCKER_HOST": node_socket.split("=", 1)[1]}
                _lib.remove_images(_lib.image_ids_of_repository(self.repo, node_env), node_env)



def image_of(fx):
    """The image the fixture's service spec names now."""
    return fx.api.inspect_service(fx.name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]


def multi_env(lab):
    """os.environ plus the multi-node lab's settings (DOCKER_HOST on m1)."""
    return {**os.environ, **{k: v for k, v in lab.env.items()
                             if k.startswith("SHIPWAY_") or k == "DOCKER_HOST"}}


def bring_up():
    """Cold bring-up, idempotent re-run, down (of a lab that is up): seconds and MB."""
    _lib.run([os.path.join(LAB, "up"), "--nodes", "3+1"], os.environ, timeout=600)
    down, _ = _lib.run([os.path.join(LAB, "down"), "--nodes", "3+1"], os.environ, timeout=300)
    cold, proc = _lib.run([os.path.join(LAB, "up"), "--nodes", "3+1"], os.environ, timeout=600)
    memory = re.search(r"(\d+) MB resident", proc.stdout)
    again, _ = _lib.run([os.path.join(LAB, "up"), "--nodes", "3+1"], os.environ, timeout=300)
    _lib.log(f"bring-up: down {down:.1f}s, up {cold:.1f}s, again {again:.1f}s")
    return {"down_s": round(down, 2), "up_cold_s": round(cold, 2),
            "up_again_s": round(again, 2),
            "resident_mb": int(memory.group(1)) if memory else None}


def deploy_and_rollback(pairs, multi, single):
    """Alternating multi/single deploy A->B and rollback B->A; per-run seconds."""
    runs = {"multi_deploy": [], "single_deploy": [], "multi_rollback": [],
            "single_rollback": []}
    spread = []
    for fx in (multi, single):
        fx.shipway("deploy", "--image", f"{fx.repo}:a")
    for i in range(max(1, pairs)):
        for kind in ("deploy", "rollback"):
            for where, fx in (("multi", multi), ("single", single)):
                args = ("--image", f"{fx.repo}:b") if kind == "deploy" else ()
                seconds, _ = fx.shipway(kind, *args)
                runs[f"{where}_{kind}"].append(round(seconds, 3))
                want = "b" if kind == "deploy" else "a"
                if fx.digests[want] not in image_of(fx):
                    raise RuntimeError(f"{where} {kind} left {image_of(fx)}")
                _lib.log(f"pair {i + 1}/{pairs}: {where} {kind} {seconds:.2f}s")
            if kind == "deploy":
                tasks = multi.api.tasks(filters={"service": multi.name,
                                                 "desired-state": "running"})
                spread.append(len({t["NodeID"] for t in tasks}))
    return runs, spread


def failover(lab, fx, rounds):
    """Leader killed during a deploy through another manager: times from the kill."""
    results = []
    for i in range(max(0, rounds)):
        leader = lab.leader()
        via = next(n for n in lab.managers if n != leader)
        target = "b" if fx.digests["a"] in image_of(fx) else "a"
        env = {**fx.ship_env, "DOCKER_HOST": lab.socket(via)}
        box = {}

        def deploy(env=env, target=target, box=box):
            box["seconds"], box["proc"] = _lib.run(
                _lib.shipway("deploy", "--catalog", fx.catalog, "--service", fx.name,
                             "--image", f"{fx.repo}:{target}", "--timeout", "300s"),
                env, timeout=400, check=False)
            box["ended"] = time.monotonic()
        thread = threading.Thread(target=deploy, daemon=True)
        thread.start()
        api = lab.client(via).api

        def updating(api=api, target=target):
            image = api.inspect_service(fx.name)["Spec"]["TaskTemplate"]["ContainerSpec"]
            state = (api.inspect_service(fx.name).get("UpdateStatus") or {}).get("State")
            return fx.digests[target] in image["Image"] and state == "updating"
        wait_for(updating, 60, "the update to start")
        lab.act("kill", leader)
        killed = time.monotonic()
        wait_for(lambda leader=leader: lab.leader(exclude=[leader]) != leader, 120,
                 "a new leader")
        elected = time.monotonic() - killed

        def completed(api=api, target=target):
            service = api.inspect_service(fx.name)
            return (service.get("UpdateStatus") or {}).get("State") == "completed" and \
                fx.digests[target] in service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        wait_for(completed, 300, "the update to complete under the new leader")
        done = time.monotonic() - killed
        thread.join(420)
        proc = box["proc"]
        started = time.monotonic()
        lab.act("start", leader)
        wait_for(lab.healthy, 120, f"{leader} reachable again")
        back = time.monotonic() - started
        record = {"killed": leader, "via": via, "new_leader_s": round(elected, 2),
                  "update_completed_s": round(done, 2),
                  "shipway_returned_s": round(box["ended"] - killed, 2),
                  "shipway_exit": proc.returncode,
                  "shipway_said": ((proc.stdout.strip() or proc.stderr.strip()).splitlines()
                                   or [""])[-1],
                  "manager_back_s": round(back, 2)}
        _lib.log(f"failover {i + 1}/{rounds}: {record}")
        results.append(record)
    return results


def tables(result):
    """The figure's two tables, [(rows, headers)] (also written to bench/results/multinode.md)."""
    med, fmt = _lib.median, _lib.fmt
    rows = []
    up = result.get("bring_up")
    if up:
        rows += [["lab/up --nodes 3+1 (from nothing)", fmt(up["up_cold_s"]), "",
                  f"{up['resident_mb']} MB resident"],
                 ["lab/up --nodes 3+1 (already up)", fmt(up["up_again_s"]), "", ""],
                 ["lab/down --nodes 3+1", fmt(up["down_s"]), "", ""]]
    for kind in ("deploy", "rollback"):
        c = result[kind]
        rows.append([f"shipway {kind}, 4 replicas (median)", fmt(c["multi"]["median_s"]),
                     fmt(c["single"]["median_s"]), f"x{c['median_ratio']}"])
    main = (rows, ["what", "3+1 nodes", "1 node", "ratio 3+1 / 1 (median of pairs)"])
    kills = result["failover"]
    rows = [[f"{f['killed']} (deploy via {f['via']})", fmt(f["new_leader_s"]),
             fmt(f["update_completed_s"]), f"{fmt(f['shipway_returned_s'])} (exit "
             f"{f['shipway_exit']})", fmt(f["manager_back_s"])] for f in kills]
    if kills:
        rows.append(["median", fmt(med([f["new_leader_s"] for f in kills])),
                     fmt(med([f["update_completed_s"] for f in kills])),
                     fmt(med([f["shipway_returned_s"] for f in kills])),
                     fmt(med([f["manager_back_s"] for f in kills]))])
    failover = (rows, ["leader killed", "new leader", "update completed", "shipway returned",
                       "killed manager back"])
    return [main, failover]


def markdown(rows, headers):
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    lines = ["| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |"
             for r in [headers] + rows]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def write_figure(parts, result):
    m = result["machine"]
    text = (f"### Multi-node lab (bench/multinode.py, {m['date']}, {m['cpus']} cores, "
            f"{result['pairs']} pairs, load average {result['load_average_before']:.1f} "
            f"before, {result['load_average_after']:.1f} after)\n\n"
            + markdown(*parts[0]) + "\n\n"
            f"Tasks of the 4-replica service after each multi-node deploy ran on "
            f"{result['spread']} distinct nodes. Update: parallelism 1, delay 1s, start-first, "
            "monitor 3s.\n\nLeader failover: shipway deploys through another manager, the "
            "leader's dockerd is SIGKILLed once the update runs; seconds from the kill:\n\n"
            + markdown(*parts[1]) + "\n\nRaw numbers: bench/results/multinode.json.\n")
    with open(FIGURE_MD, "w", encoding="utf-8") as handle:
        handle.write(text)
    _lib.log(f"table written to {os.path.relpath(FIGURE_MD, os.getcwd())}")


def main():
    p = _lib.parser(__doc__, pairs=3)
    p.add_argument("--failovers", type=int, default=1, help="leader kills (default 1)")
    p.add_argument("--no-fresh", dest="fresh", action="store_false",
                   help="do not take the multi-node lab down and up (no bring-up figures)")
    args = p.parse_args()
    result = {"what": "multi-node lab (3 managers + 1 worker, one dockerd each in its own "
                      "network namespace) vs the single-node lab", "pairs": args.pairs,
              "load_average_before": os.getloadavg()[0]}
    if args.fresh:
        result["bring_up"] = bring_up()
    else:
        subprocess.run([os.path.join(LAB, "up"), "--nodes", "3+1"], check=True,
                       capture_output=True, timeout=600)
    lab = MultiLab()
    single = _lib.lab_env()
    with MultiFixture(multi_env(lab), "bench-mn") as mfx, Fixture(single, "bench-1n") as sfx:
        with open(sfx.catalog, "w", encoding="utf-8") as handle:
            handle.write(catalog_text(sfx.name, sfx.repo, UPDATE, ROLLBACK, REPLICAS))
        runs, spread = deploy_and_rollback(args.pairs, mfx, sfx)
        result["failover"] = failover(lab, mfx, args.failovers)
    lab.close()
    result["spread"] = spread
    # the machine is shared: what else ran shows here
    result["load_average_after"] = os.getloadavg()[0]
    for kind in ("deploy", "rollback"):
        result[kind] = _lib.compare(runs[f"multi_{kind}"], runs[f"single_{kind}"],
                                    "multi", "single")
    result["update_config"] = UPDATE
    path = _lib.write_results("multinode", result, args.out)
    parts = tables(result)
    for rows, headers in parts:
        _lib.print_table(rows, headers)
        print()
    write_figure(parts, {**result, "machine": _lib.machine()})
    return path


if __name__ == "__main__":
    main()
