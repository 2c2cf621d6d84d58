"""Figure 4, job provisioning: `shipway jobs sync` vs `jenkins-jobs update` (jenkins-job-builder).

Both provision the same items from the same catalog (bench/jjb_defs.py: N services in team
folders of 10 under one top folder; each service gets a pipeline job, SCM Jenkinsfile, and a
rollback job, inline script) on the project's Jenkins API double (tests/support/
jenkins_double, in this process, on 127.0.0.1), which counts every HTTP request. Each
contestant has a double of its own, so each works on its own state:

    shipway      python -m pipeline jobs sync --catalog C --jenkins-url URL
    jjb          python -m jenkins_jobs --conf INI update [--workers N] jobs.yaml  (its cache)
    jjb-nocache  the same with --ignore-cache

Scenarios, each run A B C A B C ... (`--pairs` rounds):

    cold     an empty Jenkins (and an empty JJB cache) before every run
    noop     everything already provisioned (by the same tool); nothing changed
    change   one service's repo URL and agent changed (its two jobs), back and forth

Per run: wall time of the command, HTTP reads (non-POST) and writes (POST) it caused.
Targets: cold <= 0.5x JJB; a no-op run writes nothing; one changed service writes only its
jobs. No Docker needed.

    python bench/jobs.py [--pairs 5] [--services 200] [--scenarios cold,noop,change]
"""
import os
import secrets
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lib  # noqa: E402
import _measure  # noqa: E402
import jjb_defs  # noqa: E402

from pipeline import catalog as catalogs  # noqa: E402
from pipeline import render  # noqa: E402
from tests.support.jenkins_double import JenkinsDouble  # noqa: E402

USER = "bench"
SCENARIOS = ("cold", "noop", "change")
CONTESTANTS = ("shipway", "jjb", "jjb-nocache")
COLD_TARGET = 0.5


class Site:
    """One contestant's Jenkins double, credentials, input files and JJB cache."""

    def __init__(self, name, root, inputs, jjb_workers):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.token = secrets.token_hex(16)
        self.token_file = os.path.join(self.dir, "token")
        _write(self.token_file, self.token)
        self.inputs = inputs            # {variant: (catalog text, JJB YAML text)}
        self.jjb_workers = jjb_workers
        self.double = None

    def fresh_jenkins(self):
        """An empty Jenkins, and an empty JJB cache."""
        self.stop()
        self.double = JenkinsDouble(users={USER: self.token}).start()
        _write(os.path.join(self.dir, "jenkins_jobs.ini"),
               f"[jenkins]\nurl={self.double.url}\nuser={USER}\npassword={self.token}\n")
        shutil.rmtree(os.path.join(self.dir, "cache"), ignore_errors=True)

    def use(self, variant):
        """Point the tool's input files at catalog variant `variant`."""
        catalog_text, yaml_text = self.inputs[variant]
        _write(os.path.join(self.dir, "catalog.yml"), catalog_text)
        _write(os.path.join(self.dir, "jobs.yaml"), yaml_text)

    def command(self, jjb_workers=None):
        """The tool's command line; JJB with `jjb_workers` (default: the site's)."""
        if self.name == "shipway":
            return _lib.shipway("jobs", "sync", "--catalog",
                                os.path.join(self.dir, "catalog.yml"),
                                "--jenkins-url", self.double.url)
        cache = ["--ignore-cache"] if self.name == "jjb-nocache" else []
        return [sys.executable, "-m", "jenkins_jobs", "--conf",
                os.path.join(self.dir, "jenkins_jobs.ini"), *cache, "update",
                "--workers", str(jjb_workers or self.jjb_workers),
                os.path.join(self.dir, "jobs.yaml")]

    def env(self):
        env = {**os.environ, "PYTHONPATH": _lib.ROOT, "HOME": self.dir,
               "XDG_CACHE_HOME": os.path.join(self.dir, "cache")}
        env.pop("JENKINS_TOKEN", None)
        if self.name == "shipway":
            env.update(JENKINS_USER=USER, JENKINS_TOKEN_FILE=self.token_file)
        return env

    def run(self):
        """One timed run; returns its record (seconds, reads, writes, POST paths)."""
        self.double.clear_requests()
        done = _measure.run_measured(self.command(), self.env())
        requests = self.double.requests
        posts = [r.path for r in requests if r.method == "POST"]
        record = {"seconds": round(done["seconds"], 4), "reads": len(requests) - len(posts),
                  "writes": len(posts), "max_rss_mb": done["max_rss_mb"]}
        summary = [line for line in done["stdout"].splitlines() if line.startswith("jobs:")]
        if summary:
            record["summary"] = summary[0]
        return record, posts

    def stop(self):
        if self.double is not None:
            self.double.stop()
            self.double = None


def _write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def make_inputs(services, changed, directory):
    """{0: (catalog, JJB YAML), 1: (...)}: variant 1 changes service `changed`; and the
    catalog of variant 0 loaded (for the expected item list)."""
    inputs, loaded = {}, {}
    for variant in (0, 1):
        text = jjb_defs.bench_catalog(services, changed=changed, variant=variant)
        path = os.path.join(directory, f"catalog-{variant}.yml")
        _write(path, text)
        loaded[variant] = catalogs.load(path)
        inputs[variant] = (text, jjb_defs.jjb_yaml(loaded[variant]))
    return inputs, loaded


def check_state(site, expected_paths, variant, changed_job):
    """Every item is there, and the changed service's pipeline job has the variant's repo."""
    names = site.double.item_names()
    if sorted(names) != expected_paths:
        missing = sorted(set(expected_paths) - set(names))[:3]
        raise RuntimeError(f"{site.name}: Jenkins holds {len(names)} items, expected "
                           f"{len(expected_paths)} (missing e.g. {missing})")
    moved = "-moved.git" in site.double.config_xml(changed_job)
    if moved != bool(variant):
        raise RuntimeError(f"{site.name}: {changed_job} does not hold variant {variant}")


def run_scenario(scenario, sites, rounds, expected_paths, changed, changed_jobs):
    """Rounds of A B C for one scenario; returns {contestant: [records]}."""
    posts_of = {}

    def variant_of(i):
        return (i + 1) % 2 if scenario == "change" else 0

    if scenario != "cold":
        for site in sites.values():  # provisioned by the tool itself, not timed
            site.fresh_jenkins()
            site.use(0)
            # One JJB worker: in parallel JJB creates jobs before their folder exists.
            _measure.run_measured(site.command(jjb_workers=1), site.env())
            check_state(site, expected_paths, 0, changed_jobs[0])

    def before(i, name):
        site = sites[name]
        if scenario == "cold":
            site.fresh_jenkins()
        site.use(variant_of(i))

    def runner(name):
        def run(i):
            site = sites[name]
            record, posts = site.run()
            check_state(site, expected_paths, variant_of(i), changed_jobs[0])
            posts_of.setdefault(name, []).append(posts)
            return record
        return run

    results = _measure.rotate(rounds, [(name, runner(name)) for name in sites],
                              before=before)
    return results, posts_of


def summarise(scenario, results, posts_of, changed_jobs):
    """Medians, ratios and the scenario's target for the results JSON."""
    out = {}
    for name, runs in results.items():
        out[name] = {
            "median_s": round(statistics.median(r["seconds"] for r in runs), 4),
            "median_reads": statistics.median(r["reads"] for r in runs),
            "median_writes": statistics.median(r["writes"] for r in runs),
            "median_max_rss_mb": round(_lib.median([r["max_rss_mb"] for r in runs]), 1),
            "runs": runs,
        }
    for other in CONTESTANTS[1:]:
        if other in results:
            compared = _lib.compare(results["shipway"], results[other], "shipway", other)
            out[f"ratio_vs_{other}"] = {"median_ratio": compared["median_ratio"],
                                        "ratio_of_medians": compared["ratio_of_medians"]}
    shipway_posts = posts_of.get("shipway", [])
    if scenario == "cold":
        ratios = [out[f"ratio_vs_{o}"]["median_ratio"] for o in CONTESTANTS[1:]
                  if f"ratio_vs_{o}" in out]
        out["target"] = f"shipway/jjb <= {COLD_TARGET}"
        out["met"] = bool(ratios) and max(ratios) <= COLD_TARGET
    elif scenario == "noop":
        out["target"] = "shipway writes nothing (0 POSTs)"
        out["met"] = all(not posts for posts in shipway_posts)
    else:
        wanted = {_config_url(path) for path in changed_jobs}
        out["target"] = f"shipway writes only {', '.join(changed_jobs)}"
        out["shipway_post_paths"] = sorted({p for posts in shipway_posts for p in posts})
        out["met"] = all(posts and set(posts) <= wanted for posts in shipway_posts)
    return out


def _config_url(path):
    return "/" + "".join(f"job/{part}/" for part in path.split("/")) + "config.xml"


def main():
    p = _lib.parser(__doc__)
    p.add_argument("--services", type=int, default=200,
                   help="services in the catalog (default 200: 400 jobs)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--jjb-workers", type=int, default=1,
                   help="jenkins-jobs update --workers (default 1, its own default; "
                        "more fail on a cold Jenkins: JJB then creates jobs before their "
                        "folders)")
    args = p.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or args.services < 1:
        p.error(f"unknown scenario {unknown[0]!r}" if unknown else "--services must be >= 1")
    changed = args.services // 2
    work = tempfile.mkdtemp(prefix="bench-jobs-")
    sites = {}
    try:
        inputs, loaded = make_inputs(args.services, changed, work)
        items = render.desired_items(loaded[0])
        expected_paths = sorted(item.path for item in items)
        changed_jobs = [item.path for item in items
                        if item.service == f"svc-{changed:04d}"]
        _lib.log(f"{args.services} services: {len(items)} items "
                 f"({len(items) - 2 * args.services} folders); changed service "
                 f"svc-{changed:04d}")
        sites = {name: Site(name, work, inputs, args.jjb_workers) for name in CONTESTANTS}
        figures = {}
        for scenario in scenarios:
            _lib.log(f"scenario {scenario}")
            results, posts_of = run_scenario(scenario, sites, args.pairs, expected_paths,
                                             changed, changed_jobs)
            figures[scenario] = summarise(scenario, results, posts_of, changed_jobs)
    finally:
        for site in sites.values():
            site.stop()
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "what": "shipway jobs sync vs jenkins-jobs update (jenkins-job-builder, with and "
                "without its cache) on the Jenkins API double, same job set",
        "services": args.services, "items": len(expected_paths), "pairs": args.pairs,
        "jjb_workers": args.jjb_workers, "jjb_version": _jjb_version(),
        "scenarios": figures,
    }
    _lib.write_results("jobs", result, args.out)
    print_report(figures)
    return 0


def _jjb_version():
    from importlib.metadata import version

    return version("jenkins-job-builder")


def print_report(figures):
    rows = []
    for scenario, data in figures.items():
        for name in CONTESTANTS:
            if name not in data:
                continue
            ratio = data.get(f"ratio_vs_{name}", {}).get("median_ratio", "")
            rows.append([scenario, name, _lib.fmt(data[name]["median_s"]),
                         data[name]["median_reads"], data[name]["median_writes"],
                         ratio if name != "shipway" else "",
                         ("met" if data["met"] else "MISSED") if name == "shipway" else ""])
    _lib.print_table(rows, ["scenario", "tool", "median", "reads", "writes",
                            "shipway/this", "target"])


if __name__ == "__main__":
    sys.exit(main())
