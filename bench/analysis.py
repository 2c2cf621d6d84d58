"""Releases judged by their traffic, measured: what users see of a bad release with analysis
and without it (the control), how fast it is rolled back, and what analysis costs a good one.

A per-run HAProxy (the lab's image and template, with its Prometheus exporter) routes the
example service (4 replicas, health checked, parallelism 1, start-first, failure action
rollback), a per-run Prometheus (Debian's) scrapes it every second. Load: N threads, a steady
total rate, a new connection per request, GET / through the proxy, 127.0.0.1 only. The bad
release answers /health fine and 500 to FAIL_PERCENT % of GET / (examples/hello). Per round:

  bad, analysis   shipway deploy of the bad release with deploy.analysis (error ratio <= 5 %,
                  interval 1s, failure limit 2, canary 10s, bake 10s): caught in the canary
                  and rolled back (exit 1). Failed share over a fixed window from the deploy's
                  start; time from the first bad answer to the last one and to the deploy's
                  exit (the rollback converged)
  bad, control    the same release without analysis: swarm rolls it out (exit 0); same window
  good            a good release deployed without and with analysis, alternating, under the
                  same load: the time analysis adds, against canary + bake + at most one
                  interval per window

Prints a table and writes bench/results/analysis.json (or --json FILE). Exits 1 when an
expectation does not hold (the control must show failures; analysis must roll back).

    python bench/analysis.py [--rounds 3] [--requests-per-second 100] [--fail-percent 50]
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib  # puts the repository root on sys.path

from tests.support.load import Load
from tests.support.prometheus import PrometheusServer
from tests.support.proxy import SwarmProxy

UPDATE = "{parallelism: 1, delay: 0s, order: start-first, failure_action: rollback, monitor: 2s}"
ROLLBACK = "{parallelism: 4, delay: 0s, order: start-first, failure_action: pause, monitor: 1s}"
LABELS = {"shipway.bench": "true"}
INTERVAL, CANARY, BAKE = 1.0, 10.0, 10.0
VERSIONS = {"good1": "1.0.0", "good2": "2.0.0", "bad": "5.0.0"}


def parse_args():
    doc = __doc__.strip().splitlines()
    p = argparse.ArgumentParser(description=doc[0], epilog="\n".join(doc[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests-per-second", type=float, default=100.0, metavar="N")
    p.add_argument("--threads", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3, help="times every scenario runs (default 3)")
    p.add_argument("--replicas", type=int, default=4)
    p.add_argument("--fail-percent", type=int, default=50,
                   help="share of GET / the bad release fails (default 50)")
    p.add_argument("--good-pairs", type=int, default=2,
                   help="good deploys without/with analysis per round (default 2)")
    p.add_argument("--window", type=float, default=45.0,
                   help="seconds of load from a bad deploy's start (default 45)")
    p.add_argument("--json", metavar="OUT",
                   help="results JSON (default bench/results/analysis.json)")
    args = p.parse_args()
    if args.rounds < 1 or args.replicas < 2 or not 0 < args.fail_percent <= 100:
        p.error("--rounds >= 1, --replicas >= 2, --fail-percent 1-100")
    return args


class Bench:
    def __init__(self, env, args):
        import docker

        self.env, self.args = env, args
        self.client = docker.from_env(environment=env)
        self.tmp = tempfile.mkdtemp(prefix="bench-analysis-")
        suffix = _lib.random_name("an").split("-", 1)[1]
        self.repo = f"{env['SHIPWAY_REGISTRY']}/bench/an-hello-{suffix}"
        self.service = f"an-{suffix}"
        self.refs = {}
        self.proxy = self.prom = None
        self.build = 0

    def catalog(self, analysis):
        path = os.path.join(self.tmp, "judged.yml" if analysis else "plain.yml")
        query = (f'sum(rate(haproxy_backend_http_responses_total{{proxy="svc_{self.service}",'
                 f'code="5xx"}}[3s])) / sum(rate(haproxy_backend_http_responses_total'
                 f'{{proxy="svc_{self.service}"}}[3s]))')
        block = f"""      analysis:
        prometheus: {self.prom.url}
        interval: {INTERVAL:g}s
        failure_limit: 2
        canary: {CANARY:g}s
        bake: {BAKE:g}s
        no_data: fail
        checks:
          - {{name: error-rate, query: {json.dumps(query)}, max: 0.05}}
""" if analysis else ""
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"""services:
  {self.service}:
    image: {self.repo}
    build: make
    workdir: hello
    context: hello
    networks: [proxy]
    stop_grace_period: 1s
    deploy:
      replicas: {self.args.replicas}
      timeout: 120s
      labels: {{shipway.bench: "true"}}
      update_config: {UPDATE}
      rollback_config: {ROLLBACK}
{block}""")
        return path

    def shipway(self, *args, catalog=None, extra_env=None, check=True):
        env = {**self.env, "SHIPWAY_STATE_DIR": os.path.join(self.tmp, ".shipway"),
               "PYTHONPATH": _lib.ROOT, **(extra_env or {})}
        env.pop("SHIPWAY_PUSHGATEWAY", None)
        _, done = _lib.run(_lib.shipway(*args, "--catalog", catalog or self.catalog(False),
                                        "--service", self.service),
                           env, cwd=self.tmp, check=check, timeout=300)
        return done

    def setup(self):
        shutil.copytree(_lib.EXAMPLE, os.path.join(self.tmp, "hello"),
                        ignore=shutil.ignore_patterns("dist", "dist.tmp"))
        self.proxy = SwarmProxy(self.client, {self.service: True}, labels=LABELS).start()
        self.prom = PrometheusServer({"haproxy": f"127.0.0.1:{self.proxy.port}"}).start()
        extra_args = {"bad": [f"FAIL_PERCENT={self.args.fail_percent}"]}
        for name, version in VERSIONS.items():
            extra = extra_args.get(name, [])
            _lib.log(f"building {self.repo}:{name} (version {version} {' '.join(extra)})")
            self.shipway("build", extra_env={"VERSION": version})
            args = [a for arg in [f"VERSION={version}", *extra] for a in ("--build-arg", arg)]
            self.shipway("image", "--tag", name, *args, extra_env={"VERSION": version})
            pushed = self.shipway("push", "--tag", name).stdout.strip()
            self.refs[name] = f"{self.repo}:{name}@{pushed.split('@')[1]}"
        _lib.log(f"proxy on 127.0.0.1:{self.proxy.port}, prometheus {self.prom.url}")

    def cleanup(self):
        _lib.remove_service(self.service, self.env)
        if self.proxy:
            self.proxy.remove()
        if self.prom:
            self.prom.stop()
        _lib.wait_tasks_gone(self.service, self.env, timeout=30)
        for config in self.client.api.configs(
                filters={"label": f"shipway.release.service={self.service}"}):
            self.client.api.remove_config(config["ID"])
        _lib.remove_images(_lib.images_of_repository(self.repo, self.env), self.env)
        try:
            registry = _lib.Registry(self.env)
            for ref in self.refs.values():
                registry.delete(_lib.repository_of(ref), ref.rsplit("@", 1)[1])
        except OSError as exc:
            _lib.log(f"could not delete the bench images from the registry: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.client.close()

    def deploy(self, name, analysis):
        self.build += 1
        started = time.monotonic()
        done = self.shipway("deploy", "--image", self.refs[name], check=False,
                            catalog=self.catalog(analysis),
                            extra_env={"BUILD_NUMBER": str(self.build)})
        return done, time.monotonic() - started

    def on(self, name):
        """Put the service on release `name` (plain deploy), routed, untimed."""
        done, _ = self.deploy(name, False)
        if done.returncode != 0:
            raise RuntimeError(f"reset to {name} failed: {done.stderr.strip()[-400:]}")
        self.proxy.wait_routed(self.service, lambda v: v == VERSIONS[name], timeout=60)

    def bad_under_load(self, analysis):
        """Deploy the bad release under load for a fixed window from its start."""
        load = Load(self.proxy.port, self.proxy.host(self.service),
                    rate=self.args.requests_per_second, threads=self.args.threads,
                    timeout=5.0, max_seconds=self.args.window + 30, max_requests=10 ** 6)
        load.start()
        time.sleep(1.0)
        began = time.monotonic() - load.started
        done, seconds = self.deploy("bad", analysis)
        remaining = began + self.args.window - (time.monotonic() - load.started)
        if remaining > 0:
            time.sleep(remaining)
        result = load.stop()
        window = [s for s in result.samples if began <= s.at < began + self.args.window]
        failed = [s for s in window if not s.ok]
        first_bad = failed[0].at - began if failed else None
        last_bad = failed[-1].at - began if failed else None
        return {"exit": done.returncode, "deploy_s": round(seconds, 2),
                "sent": len(window), "failed": len(failed),
                "failed_share": round(len(failed) / len(window), 4) if window else None,
                "first_bad_s": round(first_bad, 2) if failed else None,
                "first_bad_to_last_bad_s": round(last_bad - first_bad, 2) if failed else None,
                "first_bad_to_exit_s": round(seconds - first_bad, 2) if failed else None,
                "error": done.stderr.strip().splitlines()[-1] if done.returncode else ""}

    def run(self):
        runs = {"bad, analysis": [], "bad, control": [], "good, plain": [],
                "good, analysis": []}
        problems = []
        self.on("good1")
        for round_ in range(1, self.args.rounds + 1):
            tag = f"round {round_}/{self.args.rounds}"
            judged = self.bad_under_load(True)
            _lib.log(f"{tag} bad, analysis: {judged}")
            runs["bad, analysis"].append(judged)
            if judged["exit"] != 1 or "check error-rate" not in judged["error"]:
                problems.append(f"{tag}: analysis did not roll back: {judged}")
            self.on("good1")
            control = self.bad_under_load(False)
            _lib.log(f"{tag} bad, control: {control}")
            runs["bad, control"].append(control)
            if control["exit"] != 0 or not control["failed"]:
                problems.append(f"{tag}: the control showed no failures: {control}")
            self.on("good1")
            for key, analysis in (("good, plain", False), ("good, analysis", True)) * \
                    self.args.good_pairs:
                with Load(self.proxy.port, self.proxy.host(self.service),
                          rate=self.args.requests_per_second, threads=self.args.threads,
                          timeout=5.0, max_seconds=180, max_requests=10 ** 6) as load:
                    time.sleep(1.0)   # the checks judge traffic: the same load as above
                    done, seconds = self.deploy("good2", analysis)
                _lib.log(f"{tag} {key}: {seconds:.2f}s exit {done.returncode}, "
                         f"{load.result.describe()}")
                runs[key].append({"exit": done.returncode, "deploy_s": round(seconds, 2),
                                  "sent": load.result.sent, "failed": load.result.failed})
                if done.returncode != 0:
                    problems.append(f"{tag}: {key} failed: {done.stderr.strip()[-300:]}")
                self.on("good1")
        return runs, problems


def med(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def report(args, runs, problems, started):
    bound = CANARY + BAKE + INTERVAL   # the issue's: canary + bake + at most one interval
    added = [a["deploy_s"] - p["deploy_s"]
             for a, p in zip(runs["good, analysis"], runs["good, plain"])]
    summary = {
        "bad_failed_share": {"analysis": med(runs["bad, analysis"], "failed_share"),
                             "control": med(runs["bad, control"], "failed_share")},
        "first_bad_to_last_bad_s": med(runs["bad, analysis"], "first_bad_to_last_bad_s"),
        "first_bad_to_exit_s": med(runs["bad, analysis"], "first_bad_to_exit_s"),
        "good_deploy_s": {"plain": med(runs["good, plain"], "deploy_s"),
                          "analysis": med(runs["good, analysis"], "deploy_s")},
        "analysis_adds_s": round(statistics.median(added), 2) if added else None,
        "analysis_adds_bound_s": bound,
    }
    share = summary["bad_failed_share"]
    data = {"load": {"requests_per_second": args.requests_per_second, "threads": args.threads,
                     "replicas": args.replicas, "fail_percent": args.fail_percent,
                     "window_s": args.window, "rounds": args.rounds},
            "analysis": {"interval_s": INTERVAL, "canary_s": CANARY, "bake_s": BAKE,
                         "failure_limit": 2, "check": "5xx share <= 0.05 over 3s"},
            "summary": summary, "runs": runs, "problems": problems,
            "seconds": round(time.monotonic() - started, 1)}
    path = _lib.write_results("analysis", data, args.json)
    rows = [["bad release, failed share of requests", f"{share['analysis']:.2%}",
             f"{share['control']:.2%}", f"ratio {share['analysis'] / share['control']:.3f}"
             if share["control"] else "-"],
            ["first bad answer -> last bad answer", f"{summary['first_bad_to_last_bad_s']}s",
             "-", "the rollback took the canary out"],
            ["first bad answer -> deploy exits (rolled back)",
             f"{summary['first_bad_to_exit_s']}s", "-", ""],
            ["good release, deploy", f"{summary['good_deploy_s']['analysis']}s",
             f"{summary['good_deploy_s']['plain']}s",
             f"adds {summary['analysis_adds_s']}s (bound {bound:g}s)"]]
    print(f"analysis: {args.rounds} round(s), {args.requests_per_second:g} requests/s, "
          f"{args.replicas} replicas, bad release fails {args.fail_percent}% of GET /, "
          f"window {args.window:g}s")
    _lib.print_table(rows, ["", "with analysis", "without (control)", ""])
    print(f"{'all expectations hold' if not problems else f'{len(problems)} unexpected'}; "
          f"{data['seconds']}s; {os.path.relpath(path, os.getcwd())}")
    return 0 if not problems else 1


def main():
    return _lib.run_bench(Bench, parse_args(), report)


if __name__ == "__main__":
    sys.exit(main())
