"""Zero downtime, measured: failed requests under steady load during a deploy, a failed deploy
(automatic rollback) and a rollback, and in a control that drops the safety nets.

A per-run HAProxy (the lab's image and config template, as a swarm service on the `proxy`
network, its port published in host mode) routes the example service (2 replicas, health
checked, start-first, failure action rollback, as in examples/catalog.yml with shorter
timings). Load: N threads, a steady total rate, a new connection per request, GET / with the
service's Host header to 127.0.0.1 only; from 1 s before each operation to 1 s after it. Per
round:

  deploy         shipway deploy v1 -> v2                 expected: 0 failed, v1 then v2
  failed deploy  shipway deploy of a broken release      expected: 0 failed, only v2 answers
                 (health check fails; swarm rolls back; shipway exits 1)
  rollback       shipway rollback (back to v1)           expected: 0 failed
  control        stop-first, no health check (service    expected: failures
                 and HAProxy), 1 replica; an image
                 update with the SDK, waited for
  control, 2 replicas   the same with 2 replicas         informational

Prints a table and writes bench/results/zero_downtime.json (or --json FILE). Exits 1 when an
expectation does not hold.

    python bench/zero_downtime.py [--requests-per-second 200] [--rounds 3] [--json OUT]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib  # noqa: E402  (puts the repository root on sys.path)

from tests.support.load import Result, measure  # noqa: E402
from tests.support.proxy import SwarmProxy, create_plain_service, update_image  # noqa: E402

VERSIONS = {"v1": ("1.0.0", ""), "v2": ("2.0.0", ""), "broken": ("4.0.0", "1")}
UPDATE = "{parallelism: 1, delay: 0s, order: start-first, failure_action: rollback, monitor: 2s}"
ROLLBACK = "{parallelism: 2, delay: 0s, order: start-first, failure_action: pause, monitor: 1s}"
LABELS = {"shipway.bench": "true"}


def parse_args():
    doc = __doc__.strip().splitlines()
    p = argparse.ArgumentParser(description=doc[0], epilog="\n".join(doc[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests-per-second", type=float, default=200.0, metavar="N",
                   help="total request rate of the load (default 200)")
    p.add_argument("--threads", type=int, default=8, help="load threads (default 8)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="per-request timeout in seconds (default 5)")
    p.add_argument("--rounds", type=int, default=3,
                   help="times every scenario runs (default 3)")
    p.add_argument("--replicas", type=int, default=2, help="replicas of the service (default 2)")
    p.add_argument("--json", metavar="OUT", help="results JSON "
                   "(default bench/results/zero_downtime.json)")
    args = p.parse_args()
    if args.rounds < 1 or args.threads < 1 or args.requests_per_second <= 0:
        p.error("--rounds, --threads and --requests-per-second must be positive")
    return args


class Bench:
    """The releases, the services and the proxy of one run; removes them all at the end."""

    def __init__(self, env, args):
        import docker

        self.env = env
        self.args = args
        self.client = docker.from_env(environment=env)
        self.tmp = tempfile.mkdtemp(prefix="bench-zd-")
        suffix = _lib.random_name("zd").split("-", 1)[1]
        self.repo = f"{env['SHIPWAY_REGISTRY']}/bench/zd-hello-{suffix}"
        self.service = f"zd-{suffix}"
        self.controls = {1: f"zd-ctl1-{suffix}", 2: f"zd-ctl2-{suffix}"}
        self.catalog = os.path.join(self.tmp, "catalog.yml")
        self.refs = {}
        self.proxy = None
        self.build = 0
        self.load = {"threads": args.threads, "rate": args.requests_per_second,
                     "timeout": args.timeout, "max_seconds": 180.0, "max_requests": 100000}

    # --- setup and cleanup ---------------------------------------------------------
    def shipway(self, *args, extra_env=None, check=True):
        env = {**self.env, "SHIPWAY_STATE_DIR": os.path.join(self.tmp, ".shipway"),
               "PYTHONPATH": _lib.ROOT, **(extra_env or {})}
        _, done = _lib.run(_lib.shipway(*args, "--catalog", self.catalog,
                                        "--service", self.service),
                           env, cwd=self.tmp, check=check, timeout=300)
        return done

    def setup(self):
        shutil.copytree(_lib.EXAMPLE, os.path.join(self.tmp, "hello"),
                        ignore=shutil.ignore_patterns("dist", "dist.tmp"))
        _lib.proxied_catalog(self.catalog, self.service, self.repo, self.args.replicas,
                             UPDATE, ROLLBACK)
        for name, (version, broken) in VERSIONS.items():
            _lib.log(f"building {self.repo}:{name} "
                     f"(version {version}{', broken' if broken else ''})")
            self.shipway("build", extra_env={"VERSION": version})
            self.shipway("image", "--tag", name, "--build-arg", f"VERSION={version}",
                         "--build-arg", f"BROKEN={broken}", extra_env={"VERSION": version})
            pushed = self.shipway("push", "--tag", name).stdout.strip()
            self.refs[name] = f"{self.repo}:{name}@{pushed.split('@')[1]}"
        routes = {self.service: True, **{name: False for name in self.controls.values()}}
        self.proxy = SwarmProxy(self.client, routes, labels=LABELS).start()
        _lib.log(f"proxy {self.proxy.name} on 127.0.0.1:{self.proxy.port}")

    def cleanup(self):
        for name in (self.service, *self.controls.values()):
            _lib.remove_service(name, self.env)
        if self.proxy:
            self.proxy.remove()
        for name in (self.service, *self.controls.values()):
            _lib.wait_tasks_gone(name, self.env, timeout=30)
        _lib.remove_images(_lib.images_of_repository(self.repo, self.env), self.env)
        try:
            registry = _lib.Registry(self.env)
            for ref in self.refs.values():
                registry.delete(_lib.repository_of(ref), ref.rsplit("@", 1)[1])
        except OSError as exc:
            _lib.log(f"could not delete the bench images from the registry: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.client.close()

    # --- the operations ---------------------------------------------------------------
    def deploy(self, name):
        self.build += 1
        build = str(self.build)
        return self.shipway("deploy", "--image", self.refs[name], check=False,
                            extra_env={"BUILD_NUMBER": build,
                                       "GIT_COMMIT": f"{build:0>7}" + "e" * 33})

    def under_load(self, service, operation):
        return measure(self.proxy.port, self.proxy.host(service), operation, **self.load)

    def wait_routed(self, service, version):
        self.proxy.wait_routed(service, lambda v: v == version, timeout=60)

    def run(self):
        v1, v2 = VERSIONS["v1"][0], VERSIONS["v2"][0]
        runs = {key: [] for key in ("deploy", "failed deploy", "rollback", "control",
                                    "control, 2 replicas")}
        problems = []

        def expect(ok, what):
            if not ok:
                problems.append(what)
                _lib.log(f"UNEXPECTED: {what}")

        first = self.deploy("v1")
        if first.returncode != 0:
            raise RuntimeError(f"first deploy failed: {first.stderr.strip()}")
        self.wait_routed(self.service, v1)
        for replicas, name in self.controls.items():
            create_plain_service(self.client, name, self.refs["v1"], replicas=replicas,
                                 order="stop-first", labels=LABELS)
            self.wait_routed(name, v1)

        # (scenario, operation, exit code, what stderr must say, which versions answer)
        scenarios = (
            ("deploy", lambda: self.deploy("v2"), 0, "",
             lambda load: load.version_order == [v1, v2]),
            ("failed deploy", lambda: self.deploy("broken"), 1, "rolled the update back",
             lambda load: set(load.versions) == {v2}),
            ("rollback", lambda: self.shipway("rollback", check=False), 0, "",
             lambda load: load.version_order == [v2, v1]),
        )
        for round_ in range(1, self.args.rounds + 1):
            tag = f"round {round_}/{self.args.rounds}"
            for key, operation, code, says, answered in scenarios:
                proc, load = self.under_load(self.service, operation)
                _lib.log(f"{tag} {key}: {load.describe()}")
                runs[key].append(load)
                expect(proc.returncode == code and says in proc.stderr,
                       f"{tag}: {key} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
                expect(load.failed == 0 and answered(load), f"{tag}: {key}: {load.describe()}")

            # the controls alternate v1 -> v2 -> v1 ...
            target = "v2" if round_ % 2 else "v1"
            for replicas, name in self.controls.items():
                key = "control" if replicas == 1 else "control, 2 replicas"
                _, load = self.under_load(
                    name, lambda name=name, target=target:
                    update_image(self.client, name, self.refs[target]))
                _lib.log(f"{tag} {key}: {load.describe()}")
                runs[key].append(load)
                if replicas == 1:
                    expect(load.failed > 0, f"{tag}: the control lost no request: "
                                            f"{load.describe()}")
        return runs, problems


EXPECTED = {"deploy": "0 failed", "failed deploy": "0 failed, only v2",
            "rollback": "0 failed", "control": "failures",
            "control, 2 replicas": "(informational)"}


def report(args, runs, problems, started):
    rows, scenarios = [], []
    for key, results in runs.items():
        total = Result.combined(results)
        summary = total.summary()
        summary.pop("version_order")
        scenarios.append({"scenario": key, "expected": EXPECTED[key], **summary,
                          "rounds": [r.summary() for r in results]})
        mix = " ".join(f"{v}:{n}" for v, n in sorted(summary["versions"].items())) or "-"
        rows.append([key, summary["sent"], summary["failed"], mix, summary["p50_ms"],
                     summary["p99_ms"], summary["max_ms"], EXPECTED[key]])
    data = {
        "load": {"requests_per_second": args.requests_per_second, "threads": args.threads,
                 "timeout_s": args.timeout, "rounds": args.rounds, "replicas": args.replicas,
                 "connection": "new connection per request (Connection: close)",
                 "window": "1 s before the operation to 1 s after it"},
        "scenarios": scenarios,
        "problems": problems,
        "seconds": round(time.monotonic() - started, 1),
    }
    path = _lib.write_results("zero_downtime", data, args.json)
    print(f"zero downtime: {args.rounds} round(s), {args.requests_per_second:g} requests/s, "
          f"{args.threads} threads, {args.replicas} replicas")
    _lib.print_table(rows, ["scenario", "sent", "failed", "versions", "p50 ms", "p99 ms",
                            "max ms", "expected"])
    print(f"{'all expectations hold' if not problems else f'{len(problems)} unexpected'}; "
          f"{data['seconds']}s; {os.path.relpath(path, os.getcwd())}")
    return 0 if not problems else 1


def main():
    return _lib.run_bench(Bench, parse_args(), report)


if __name__ == "__main__":
    sys.exit(main())
