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
  route           a release whose / is fine and whose /api/orders/ answers 500 (BROKEN_ROUTE,
                  a route the load never asks), deployed with the error-ratio check alone
                  (it passes: exit 0) and with a smoke check beside it (an HTTP GET of
                  /api/orders/ to each new task through shipway's probe: rolled back in the
                  canary); the time from the deploy's start to the rollback, and each smoke
                  evaluation's time

The bad release's times are measured against the bound interval x failure_limit + one
interval: from its first failing answer to the rollback's write (the --json record's
analysis.rollback_at) and to its last failing answer.

Prints a table and writes bench/results/analysis.json (or --json FILE). Exits 1 when an
expectation does not hold (the control must show failures; analysis must roll back).

    python bench/analysis.py [--rounds 3] [--requests-per-second 100] [--fail-percent 50]
                             [--scenarios bad,good,route]
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
INTERVAL, CANARY, BAKE, LIMIT = 1.0, 10.0, 10.0, 2
VERSIONS = {"good1": "1.0.0", "good2": "2.0.0", "bad": "5.0.0", "noroute": "6.0.0"}
SCENARIOS = ("bad", "good", "route")
SMOKE = {"name": "smoke", "http": {"path": "/api/orders/", "port": 8080, "requests": 1}}


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
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="which to run, of bad,good,route (default all)")
    args = p.parse_args()
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if not args.scenarios or set(args.scenarios) - set(SCENARIOS):
        p.error(f"--scenarios takes some of {','.join(SCENARIOS)}")
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

    def catalog(self, analysis, smoke=False):
        """The service's catalog: plain, with the error-ratio check, or with the smoke check
        beside it."""
        path = os.path.join(self.tmp, ("smoke" if smoke else "judged" if analysis
                                       else "plain") + ".yml")
        query = (f'sum(rate(haproxy_backend_http_responses_total{{proxy="svc_{self.service}",'
                 f'code="5xx"}}[3s])) / sum(rate(haproxy_backend_http_responses_total'
                 f'{{proxy="svc_{self.service}"}}[3s]))')
        extra = f"          - {json.dumps(SMOKE)}\n" if smoke else ""
        block = f"""      analysis:
        prometheus: {self.prom.url}
        interval: {INTERVAL:g}s
        failure_limit: {LIMIT}
        canary: {CANARY:g}s
        bake: {BAKE:g}s
        no_data: fail
        checks:
          - {{name: error-rate, query: {json.dumps(query)}, max: 0.05}}
{extra}""" if analysis else ""
        return _lib.proxied_catalog(path, self.service, self.repo, self.args.replicas,
                                    UPDATE, ROLLBACK, block)

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
        extra_args = {"bad": [f"FAIL_PERCENT={self.args.fail_percent}"],
                      "noroute": ["BROKEN_ROUTE=1"]}
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

    def deploy(self, name, analysis, smoke=False):
        """(the finished process, seconds, its --json record or None)."""
        self.build += 1
        started = time.monotonic()
        done = self.shipway("deploy", "--image", self.refs[name], "--json", check=False,
                            catalog=self.catalog(analysis, smoke),
                            extra_env={"BUILD_NUMBER": str(self.build)})
        try:
            record = json.loads(done.stdout)
        except ValueError:
            record = None
        return done, time.monotonic() - started, record

    def on(self, name):
        """Put the service on release `name` (plain deploy), routed, untimed."""
        done, _, _ = self.deploy(name, False)
        if done.returncode != 0:
            raise RuntimeError(f"reset to {name} failed: {done.stderr.strip()[-400:]}")
        self.proxy.wait_routed(self.service, lambda v: v == VERSIONS[name], timeout=60)

    def bad_under_load(self, analysis):
        """Deploy the bad release under load for a fixed window from its start."""
        load = Load(self.proxy.port, self.proxy.host(self.service),
                    rate=self.args.requests_per_second, threads=self.args.threads,
                    timeout=5.0, max_seconds=self.args.window + 30, max_requests=10 ** 6)
        load.start()
        # the load's clock (monotonic, from its start) against the deploy record's (wall)
        wall_at_start = time.time() - (time.monotonic() - load.started)
        time.sleep(1.0)
        began = time.monotonic() - load.started
        done, seconds, record = self.deploy("bad", analysis)
        remaining = began + self.args.window - (time.monotonic() - load.started)
        if remaining > 0:
            time.sleep(remaining)
        result = load.stop()
        window = [s for s in result.samples if began <= s.at < began + self.args.window]
        failed = sorted((s for s in window if not s.ok), key=lambda s: s.at)
        first_bad = failed[0].at - began if failed else None
        last_bad = failed[-1].at - began if failed else None
        judged = (record or {}).get("analysis") or {}
        rollback_at = judged.get("rollback_at")
        to_write = (rollback_at - wall_at_start - began - first_bad
                    if failed and rollback_at else None)
        # where the time goes: until the check first says fail (Prometheus' scrape and the
        # rate window filling), then until the rollback's write (the limit's evaluations)
        fails = [e["at"] for e in judged.get("evaluations") or [] if e["verdict"] == "fail"]
        to_first_fail = (fails[0] - wall_at_start - began - first_bad
                         if failed and fails else None)
        return {"exit": done.returncode, "deploy_s": round(seconds, 2),
                "sent": len(window), "failed": len(failed),
                "failed_share": round(len(failed) / len(window), 4) if window else None,
                "first_bad_s": round(first_bad, 2) if failed else None,
                "first_bad_to_rollback_write_s": round(to_write, 2) if to_write else None,
                "first_bad_to_first_failed_evaluation_s": round(to_first_fail, 2)
                if to_first_fail is not None else None,
                "first_failed_evaluation_to_rollback_write_s": round(rollback_at - fails[0], 2)
                if fails and rollback_at else None,
                "first_bad_to_last_bad_s": round(last_bad - first_bad, 2) if failed else None,
                "first_bad_to_exit_s": round(seconds - first_bad, 2) if failed else None,
                "error": done.stderr.strip().splitlines()[-1] if done.returncode else ""}

    def broken_route(self, smoke):
        """Deploy the release with the broken route under load, with the error-ratio check
        alone or with the smoke check too."""
        with Load(self.proxy.port, self.proxy.host(self.service),
                  rate=self.args.requests_per_second, threads=self.args.threads,
                  timeout=5.0, max_seconds=180, max_requests=10 ** 6) as load:
            time.sleep(1.0)
            done, seconds, record = self.deploy("noroute", True, smoke)
        evaluations = ((record or {}).get("analysis") or {}).get("evaluations") or []
        smoke_times = [b["at"] - a["at"] for a, b in zip(evaluations, evaluations[1:])
                       if a["check"] == "error-rate" and b["check"] == "smoke"]
        return {"exit": done.returncode, "deploy_s": round(seconds, 2),
                "verdicts": {check: sorted({e["verdict"] for e in evaluations
                                            if e["check"] == check})
                             for check in ("error-rate", "smoke") if evaluations},
                "smoke_evaluation_s": round(statistics.median(smoke_times), 3)
                if smoke_times else None,
                "sent": load.result.sent, "failed": load.result.failed,
                "error": done.stderr.strip().splitlines()[-1] if done.returncode else ""}

    def run(self):
        runs = {key: [] for key in ("bad, analysis", "bad, control", "good, plain",
                                    "good, analysis", "route, promql", "route, smoke")}
        problems = []
        self.on("good1")
        for round_ in range(1, self.args.rounds + 1):
            tag = f"round {round_}/{self.args.rounds}"
            if "bad" in self.args.scenarios:
                self.bad_round(tag, runs, problems)
            if "good" in self.args.scenarios:
                self.good_round(tag, runs, problems)
            if "route" in self.args.scenarios:
                self.route_round(tag, runs, problems)
        return runs, problems

    def bad_round(self, tag, runs, problems):
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

    def good_round(self, tag, runs, problems):
        for key, analysis in (("good, plain", False), ("good, analysis", True)) * \
                self.args.good_pairs:
            with Load(self.proxy.port, self.proxy.host(self.service),
                      rate=self.args.requests_per_second, threads=self.args.threads,
                      timeout=5.0, max_seconds=180, max_requests=10 ** 6) as load:
                time.sleep(1.0)   # the checks judge traffic: the same load as above
                done, seconds, _ = self.deploy("good2", analysis)
            _lib.log(f"{tag} {key}: {seconds:.2f}s exit {done.returncode}, "
                     f"{load.result.describe()}")
            runs[key].append({"exit": done.returncode, "deploy_s": round(seconds, 2),
                              "sent": load.result.sent, "failed": load.result.failed})
            if done.returncode != 0:
                problems.append(f"{tag}: {key} failed: {done.stderr.strip()[-300:]}")
            self.on("good1")

    def route_round(self, tag, runs, problems):
        promql = self.broken_route(False)
        _lib.log(f"{tag} route, promql: {promql}")
        runs["route, promql"].append(promql)
        if promql["exit"] != 0:
            problems.append(f"{tag}: the error ratio alone did not pass the broken route "
                            f"(it should: the load never asks it): {promql}")
        self.on("good1")
        smoke = self.broken_route(True)
        _lib.log(f"{tag} route, smoke: {smoke}")
        runs["route, smoke"].append(smoke)
        if smoke["exit"] != 1 or "check smoke" not in smoke["error"]:
            problems.append(f"{tag}: the smoke check did not roll the broken route back: "
                            f"{smoke}")
        self.on("good1")


def med(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def summarize(runs):
    """The medians the table and the JSON give."""
    added = [a["deploy_s"] - p["deploy_s"]
             for a, p in zip(runs["good, analysis"], runs["good, plain"])]
    smoke = runs["route, smoke"]
    return {
        "bad_failed_share": {"analysis": med(runs["bad, analysis"], "failed_share"),
                             "control": med(runs["bad, control"], "failed_share")},
        "first_bad_to_rollback_write_s": med(runs["bad, analysis"],
                                             "first_bad_to_rollback_write_s"),
        "first_bad_to_first_failed_evaluation_s": med(
            runs["bad, analysis"], "first_bad_to_first_failed_evaluation_s"),
        "first_failed_evaluation_to_rollback_write_s": med(
            runs["bad, analysis"], "first_failed_evaluation_to_rollback_write_s"),
        "first_bad_to_last_bad_s": med(runs["bad, analysis"], "first_bad_to_last_bad_s"),
        "first_bad_to_exit_s": med(runs["bad, analysis"], "first_bad_to_exit_s"),
        "verdict_bound_s": INTERVAL * LIMIT + INTERVAL,
        "good_deploy_s": {"plain": med(runs["good, plain"], "deploy_s"),
                          "analysis": med(runs["good, analysis"], "deploy_s")},
        "analysis_adds_s": round(statistics.median(added), 2) if added else None,
        "analysis_adds_bound_s": CANARY + BAKE + INTERVAL,
        "route": {"promql_exit": [r["exit"] for r in runs["route, promql"]],
                  "smoke_exit": [r["exit"] for r in smoke],
                  "smoke_deploy_s": med(smoke, "deploy_s"),
                  "smoke_evaluation_s": med(smoke, "smoke_evaluation_s")},
    }


def _table(summary):
    share, route = summary["bad_failed_share"], summary["route"]
    bound = summary["verdict_bound_s"]
    rows = []
    if share["analysis"] is not None:
        rows += [["bad release, failed share of requests", f"{share['analysis']:.2%}",
                  f"{share['control']:.2%}", f"ratio {share['analysis'] / share['control']:.3f}"
                  if share["control"] else "-"],
                 ["first bad answer -> rollback's write",
                  f"{summary['first_bad_to_rollback_write_s']}s", "-",
                  f"bound {bound:g}s (interval x failure_limit + one interval)"],
                 ["  of which: first bad answer -> the check's first fail",
                  f"{summary['first_bad_to_first_failed_evaluation_s']}s", "-",
                  "Prometheus' scrape, the rate window filling"],
                 ["  of which: first fail -> rollback's write",
                  f"{summary['first_failed_evaluation_to_rollback_write_s']}s", "-",
                  f"the limit's evaluations: ({LIMIT} - 1) x interval"],
                 ["first bad answer -> last bad answer",
                  f"{summary['first_bad_to_last_bad_s']}s", "-",
                  "the rollback took the canary out"],
                 ["first bad answer -> deploy exits (rolled back)",
                  f"{summary['first_bad_to_exit_s']}s", "-", ""]]
    if summary["good_deploy_s"]["plain"] is not None:
        rows.append(["good release, deploy", f"{summary['good_deploy_s']['analysis']}s",
                     f"{summary['good_deploy_s']['plain']}s",
                     f"adds {summary['analysis_adds_s']}s (bound "
                     f"{summary['analysis_adds_bound_s']:g}s)"])
    if route["smoke_exit"]:
        rows.append(["broken route: exit with a smoke check / error ratio alone",
                     ",".join(map(str, route["smoke_exit"])),
                     ",".join(map(str, route["promql_exit"])),
                     f"rolled back after {route['smoke_deploy_s']}s; a smoke evaluation "
                     f"{route['smoke_evaluation_s']}s"])
    return rows


def report(args, runs, problems, started):
    summary = summarize(runs)
    data = {"load": {"requests_per_second": args.requests_per_second, "threads": args.threads,
                     "replicas": args.replicas, "fail_percent": args.fail_percent,
                     "window_s": args.window, "rounds": args.rounds,
                     "scenarios": args.scenarios},
            "analysis": {"interval_s": INTERVAL, "canary_s": CANARY, "bake_s": BAKE,
                         "failure_limit": LIMIT, "check": "5xx share <= 0.05 over 3s",
                         "smoke": SMOKE},
            "summary": summary, "runs": runs, "problems": problems,
            "seconds": round(time.monotonic() - started, 1)}
    path = _lib.write_results("analysis", data, args.json)
    print(f"analysis: {args.rounds} round(s), {args.requests_per_second:g} requests/s, "
          f"{args.replicas} replicas, bad release fails {args.fail_percent}% of GET /, "
          f"window {args.window:g}s")
    _lib.print_table(_table(summary), ["", "with analysis", "without (control)", ""])
    print(f"{'all expectations hold' if not problems else f'{len(problems)} unexpected'}; "
          f"{data['seconds']}s; {os.path.relpath(path, os.getcwd())}")
    return 0 if not problems else 1


def main():
    return _lib.run_bench(Bench, parse_args(), report)


if __name__ == "__main__":
    sys.exit(main())
