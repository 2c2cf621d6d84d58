"""Figure 6, the deploy lock's cost: what taking and releasing it adds to a deploy.

Two measures on one service of the lab:
- in process, precise: `lock.held()` entered and left N times (create the config, start the
  renewal thread, remove the config), as a deploy does once; and one renewal (inspect and a
  label update), which runs in a background thread every lease/3 (10 s by default: once or
  not at all during a deploy of the example).
- on a deploy, end to end: `shipway deploy` of the spec the service already has (a no-op
  that still connects, resolves the digest, reads the service and the history and waits on
  the tasks: 0.3-0.5 s, so the lock is the largest share it could ever be), A = as shipped,
  B = the same command with `common.locked` replaced by a null context, alternating A B.
  A real update takes 10 s or more and varies by far more than the lock costs.

Target: <= 50 ms added to a deploy (issue 11).

    python bench/lock.py [--pairs 15] [--rounds 30]
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib
from deploy import catalog_text

NO_LOCK = ("import contextlib, sys; import pipeline.stages.common as c; "
           "c.locked = lambda *a, **k: contextlib.nullcontext(); "
           "from pipeline.cli import entry; sys.argv[0] = 'shipway'; entry()")


def in_process(api, name, rounds):
    """Seconds per take+release and per renewal, medians of `rounds`."""
    from pipeline.api import engine
    from pipeline.swarm import lock

    held = []
    for _ in range(rounds):
        start = time.perf_counter()
        with lock.held(api, name, holder="bench", command="bench", timeout=10,
                       report=_lib.log):
            pass
        held.append(time.perf_counter() - start)
    renew = []
    with lock.held(api, name, holder="bench", command="bench", timeout=10,
                   report=_lib.log) as taken:
        for i in range(rounds):
            start = time.perf_counter()
            config = engine.inspect_config(api, taken.config_id)
            engine.update_config_labels(api, config, taken._labels(i + 1))
            renew.append(time.perf_counter() - start)
    return statistics.median(held), statistics.median(renew), held


def main():
    p = _lib.parser(__doc__, pairs=15)
    p.add_argument("--rounds", type=int, default=30, help="in-process repetitions (30)")
    args = p.parse_args()
    env = _lib.lab_env()
    import docker

    name = _lib.random_name("bench-lock")
    repo = f"{env['SHIPWAY_REGISTRY']}/bench/{name}"
    tmp = tempfile.mkdtemp(prefix="bench-lock-")
    catalog = os.path.join(tmp, "catalog.yml")
    with open(catalog, "w", encoding="utf-8") as handle:
        handle.write(catalog_text(name, repo, replicas=1))
    ship_env = {**env, "SHIPWAY_STATE_DIR": os.path.join(tmp, "state"),
                "BUILD_NUMBER": "1", "JOB_NAME": "bench"}
    api = docker.from_env(timeout=60).api
    digests = {}
    cli = _lib.docker_cli_config(env)
    cli_env = cli.__enter__()
    try:
        context = _lib.example_copy(tmp)
        digests["a"] = _lib.cli_build_push(context, f"{repo}:a", cli_env, ["VERSION=bench-a"])
        argv = ("deploy", "--image", f"{repo}:a", "--catalog", catalog, "--service", name)
        _lib.run(_lib.shipway(*argv), ship_env)
        per_held, per_renew, held_runs = in_process(api, name, max(1, args.rounds))
        _lib.log(f"in process: take+release {per_held * 1000:.1f} ms, "
                 f"renewal {per_renew * 1000:.1f} ms (medians of {args.rounds})")

        def with_lock(_i):
            return _lib.run(_lib.shipway(*argv), ship_env)[0]

        def without_lock(_i):
            return _lib.run([sys.executable, "-c", NO_LOCK, *argv], ship_env)[0]

        a_runs, b_runs = _lib.alternate(args.pairs, with_lock, without_lock)
    finally:
        _lib.remove_service(name, env)
        _lib.wait_tasks_gone(name, env)
        for config in api.configs(filters={"label": f"shipway.lock.service={name}"}):
            api.remove_config(config["ID"])
        _lib.remove_images(_lib.images_of_repository(repo, env), env)
        registry = _lib.Registry(env)
        for digest in digests.values():
            try:
                registry.delete(f"bench/{name}", digest)
            except OSError as exc:
                _lib.log(f"could not delete {repo}@{digest}: {exc}")
        cli.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)
    differences = [a - b for a, b in zip(a_runs, b_runs)]
    result = {
        "what": "the deploy lock: lock.held() in process, and a no-op shipway deploy with "
                "and without it",
        "pairs": args.pairs, "rounds": args.rounds,
        "held_median_ms": round(per_held * 1000, 2),
        "held_runs_ms": [round(x * 1000, 2) for x in held_runs],
        "renewal_median_ms": round(per_renew * 1000, 2),
        **_lib.compare(a_runs, b_runs, "with_lock", "without_lock"),
        "added_median_ms": round(statistics.median(differences) * 1000, 1),
        "target": "<= 50 ms added to a deploy",
    }
    _lib.write_results("lock", result, None if not args.out else args.out)
    print(f"lock take+release in process: {result['held_median_ms']} ms; one renewal "
          f"{result['renewal_median_ms']} ms (background thread, every lease/3)")
    print(f"no-op deploy: with the lock {result['with_lock']['median_s']:.3f} s, without "
          f"{result['without_lock']['median_s']:.3f} s; added (median of pair differences) "
          f"{result['added_median_ms']} ms (target <= 50 ms); ratio {result['median_ratio']}")


if __name__ == "__main__":
    main()
