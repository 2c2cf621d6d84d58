"""Figure 8, a release of several services: `shipway deploy --group` vs `docker stack deploy
--detach=false` of the same stack vs the five services deployed one after the other with
`shipway deploy`.

The release (bench/_group.py): a migration job (busybox, prints 3 lines, 2 s), then a wave
of two services, then a wave of two, each 2 replicas of the health-checked example image on
the lab's `proxy` network (update: parallelism 1, delay 0s, start-first, monitor 2s, failure
action rollback; the example's health check with a 3 s probe timeout and 3 retries, see
_group.HEALTH), with the same specs (the run checks them field by field). Each contestant
has its own five services, created at release 1 first (not timed); then, rotating the order
every round, each deploys the next release: a new image of every member (the example's r1
and r2 alternately, a new job image every time, so the job runs every time). The stack file
says the order in `depends_on`; stack deploy ignores it.

Then the failure: a release whose last-wave member `admin` gets the example built with
BROKEN=1 (its /health answers 404: never healthy), the others a new image. Timed from the
start until every service runs its release before again: shipway's group rolls back what it
changed by itself; for the others, what a user then has to do is timed too (the stack file
of the release before deployed again; `shipway rollback` of each service the script changed,
newest first). What each left running at its return is read from the engine.

    python bench/group.py [--pairs 5] [--failures 3] [--install venv|checkout]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _group as shape  # noqa: E402
import _lib  # noqa: E402
import swarmtimes  # noqa: E402

STACK_DOCKER = "/usr/local/bin/docker"   # the newer client: stack deploy --detach=false


def member_times(api, service_name, since):
    """{"start", "done"} of the member's last change in POSIX seconds: a job's run (its
    tasks of the current iteration created, completed), a service's update (swarm's
    StartedAt; the last of the update's new tasks running healthy, leaving out a task that
    replaced one after the update had completed)."""
    service = api.inspect_service(service_name)
    tasks = api.tasks(filters={"service": service["ID"]})
    parse = swarmtimes.parse_time
    if "JobStatus" in service:
        index = service["JobStatus"]["JobIteration"]["Index"]
        mine = [t for t in tasks if t.get("JobIteration", {}).get("Index") == index]
        done = [parse(t["Status"]["Timestamp"]) for t in mine
                if t["Status"]["State"] == "complete"]
        return {"start": min((parse(t["CreatedAt"]) for t in mine), default=None),
                "done": max(done, default=None)}
    status = service.get("UpdateStatus") or {}
    started, completed = parse(status.get("StartedAt")), parse(status.get("CompletedAt"))
    new = [t for t in tasks if t.get("DesiredState") == "running"
           and t["Status"]["State"] == "running" and parse(t["CreatedAt"]) >= since
           and (completed is None or parse(t["CreatedAt"]) <= completed)]
    if started is None or started < since:
        started = min((parse(t["CreatedAt"]) for t in new), default=None)
    return {"start": started,
            "done": max((parse(t["Status"]["Timestamp"]) for t in new), default=None)}


def said(done):
    """What a run said that tells how it went: shipway's group, wave and undo lines, the
    stack deploy's rollback lines, and the last 3 lines (each cut at 600 characters)."""
    lines = (done.stdout + "\n" + done.stderr).strip().splitlines()
    kept = [line for line in lines[:-3]
            if any(word in line for word in ("[shipway] group", "[shipway] undo", "wave:",
                                             "rollback:", "rolled back"))]
    return [line[:600] for line in kept + lines[-3:]]


def running(api, service_name):
    """Digests of the images the service's running tasks run."""
    tasks = api.tasks(filters={"service": service_name, "desired-state": "running"})
    return sorted(t["Spec"]["ContainerSpec"]["Image"].rpartition("@")[2] for t in tasks
                  if t["Status"]["State"] == "running")


class Bench:
    """The three contestants' services, the images, the runs; everything removed at the end."""

    def __init__(self, env, args):
        import docker

        self.env, self.args = env, args
        self.prefix = _lib.random_name("bench-grp")
        self.n = shape.names(self.prefix)
        self.tmp = tempfile.mkdtemp(prefix="bench-group-")
        self.catalog = os.path.join(self.tmp, "catalog.yml")
        self.repo = f"{env['SHIPWAY_REGISTRY']}/bench/{self.prefix}"
        self.job_repo = f"{self.repo}-job"
        self.network = env.get("SHIPWAY_LAB_NETWORK", "proxy")
        self.ship_env = {**env, "SHIPWAY_STATE_DIR": os.path.join(self.tmp, "state"),
                         "BUILD_NUMBER": "1", "JOB_NAME": "bench"}
        self.client = docker.from_env(timeout=120)
        self.api = self.client.api
        self.hello, self.jobs, self.pushed = {}, [], []
        self.current = {}            # contestant -> member -> the reference it runs
        self._cli = None

    # ------------------------------------------------------------------ images

    def setup(self):
        self._cli = _lib.docker_cli_config(self.env)
        self.cli_env = self._cli.__enter__()
        _lib.example_copy(self.tmp)
        with open(self.catalog, "w", encoding="utf-8") as handle:
            handle.write(shape.catalog_text(self.prefix, self.repo, self.job_repo,
                                            self.network))
        for tag, version, broken in (("r1", "1.0.0", ""), ("r2", "2.0.0", ""),
                                     ("broken", "3.0.0", "1")):
            self.hello[tag] = self._build_hello(tag, version, broken)
        for k in range(1 + self.args.pairs + self.args.failures):
            self.jobs.append(self._build_job(f"j{k}"))

    def _build_hello(self, tag, version, broken):
        """The example through shipway's own stages, as the integration fixture builds it."""
        def stage(*args):
            return _lib.run(_lib.shipway(*args, "--catalog", self.catalog, "--service",
                                         "hello"), {**self.ship_env, "VERSION": version},
                            cwd=self.tmp)[1]
        stage("build")
        stage("image", "--tag", tag, "--build-arg", f"VERSION={version}",
              "--build-arg", f"BROKEN={broken}")
        pushed = stage("push", "--tag", tag).stdout.strip()
        reference = f"{self.repo}:{tag}@{pushed.rpartition('@')[2]}"
        self.pushed.append((self.repo, reference))
        _lib.log(f"pushed {reference}")
        return reference

    def _build_job(self, tag):
        from tests.support.busybox import build_job

        build_job(self.client, f"{self.job_repo}:{tag}", variant=tag)
        auth = {"username": self.env["SHIPWAY_REGISTRY_USER"],
                "password": _lib.registry_password(self.env)}
        for line in self.api.push(self.job_repo, tag=tag, auth_config=auth, stream=True,
                                  decode=True):
            if "error" in line:
                raise RuntimeError(f"push of {self.job_repo}:{tag}: {line['error']}")
        found = self.api.inspect_distribution(f"{self.job_repo}:{tag}", auth_config=auth)
        reference = f"{self.job_repo}:{tag}@{found['Descriptor']['digest']}"
        self.pushed.append((self.job_repo, reference))
        return reference

    # ------------------------------------------------------------------ the contestants

    def _shipway(self, *args):
        return _lib.run(_lib.shipway(*args, "--catalog", self.catalog), self.ship_env,
                        timeout=900, check=False, cwd=self.tmp)

    def deploy_group(self, images):
        pairs = [a for m in shape.MEMBERS
                 for a in ("--image", f"{self.n['group'][m]}={images[m]}")]
        seconds, done = self._shipway("deploy", "--group", self.n["group_name"], *pairs)
        return seconds, [done.returncode], done

    def deploy_stack(self, images):
        path = os.path.join(self.tmp, f"stack-{time.monotonic_ns()}.yml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(shape.stack_text(images, self.network))
        seconds, done = _lib.run([STACK_DOCKER, "stack", "deploy", "--detach=false",
                                  "--with-registry-auth", "-c", path, self.n["stack_name"]],
                                 self.cli_env, timeout=900, check=False)
        return seconds, [done.returncode], done

    def deploy_sequential(self, images):
        """One `shipway deploy` a member, in the group's order; stops at the first failure,
        as a script with `set -e` does."""
        total, codes, done = 0.0, [], None
        for member in shape.MEMBERS:
            seconds, done = self._shipway("deploy", "--service", self.n["sequential"][member],
                                          "--image", images[member])
            total += seconds
            codes.append(done.returncode)
            if done.returncode:
                break
        return total, codes, done

    def deploy(self, contestant, images):
        return getattr(self, f"deploy_{contestant}")(images)

    # ------------------------------------------------------------------ reading the engine

    def settle(self, contestant):
        for member in shape.MEMBERS:
            if member != shape.JOB:
                swarmtimes.settle(self.api, self.n[contestant][member], timeout=300)

    def states(self, contestant, old, new):
        return shape.states({m: running(self.api, self.n[contestant][m])
                             for m in shape.MEMBERS if m != shape.JOB}, old, new)

    def timeline(self, contestant, wall_start):
        times = {}
        for member in shape.MEMBERS:
            found = member_times(self.api, self.n[contestant][member], wall_start - 0.5)
            times[member] = {k: None if v is None else round(v - wall_start, 3)
                             for k, v in found.items()}
        return times

    def cleanup(self):
        """Every service, release record, lock, group record, job container, image and
        pushed manifest of the run; each part tried even when one before failed."""
        for part in (self._remove_services, self._remove_configs, self._remove_images):
            try:
                part()
            except Exception as exc:  # noqa: BLE001 - the rest of the cleanup still runs
                _lib.log(f"cleanup: {part.__name__}: {exc}")
        if self._cli:
            self._cli.__exit__(None, None, None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _remove_services(self):
        subprocess.run([STACK_DOCKER, "stack", "rm", self.n["stack_name"]], env=self.env,
                       capture_output=True, timeout=120)
        for contestant in shape.CONTESTANTS:
            for name in self.n[contestant].values():
                _lib.remove_service(name, self.env)
        for contestant in shape.CONTESTANTS:
            for name in self.n[contestant].values():
                _lib.wait_tasks_gone(name, self.env)
                self._remove_containers(name)

    def _remove_images(self):
        _lib.remove_images(_lib.images_of_repository(self.repo, self.env)
                           + _lib.images_of_repository(self.job_repo, self.env), self.env)
        registry = _lib.Registry(self.env)
        for repo, reference in self.pushed:
            try:
                registry.delete(_lib.repository_of(repo + ":x"), shape.digest(reference))
            except OSError as exc:
                _lib.log(f"could not delete {reference}: {exc}")

    def _remove_containers(self, name):
        """A job's finished containers stay on this engine after its service is gone."""
        import docker

        for container in self.api.containers(
                all=True, filters={"label": f"com.docker.swarm.service.name={name}"}):
            try:
                self.api.remove_container(container["Id"], force=True)
            except docker.errors.APIError as exc:   # gone, or its removal under way
                _lib.log(f"container {container['Id'][:12]}: {exc.explanation}")

    def _remove_configs(self):
        import docker

        names = [n for c in shape.CONTESTANTS for n in self.n[c].values()]
        labels = [f"shipway.release.service={n}" for n in names]
        labels += [f"shipway.lock.service={n}" for n in names]
        labels.append(f"shipway.group.name={self.n['group_name']}")
        for label in labels:
            for config in self.api.configs(filters={"label": label}):
                try:
                    self.api.remove_config(config["ID"])
                except docker.errors.NotFound:
                    pass    # a lock its holder released meanwhile

    # ------------------------------------------------------------------ the runs

    def run(self):
        first = shape.release(self.hello["r1"], self.jobs[0])
        created = {}
        for contestant in shape.CONTESTANTS:
            seconds, codes, done = self.deploy(contestant, first)
            if any(codes):
                raise RuntimeError(f"{contestant}: release 1 failed {codes}:\n"
                                   f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
            self.settle(contestant)
            self.current[contestant] = dict(first)
            created[contestant] = round(seconds, 3)
            _lib.log(f"created {contestant} at release 1 in {seconds:.1f}s")
        specs = {c: {m: self.api.inspect_service(self.n[c][m])["Spec"] for m in shape.MEMBERS}
                 for c in shape.CONTESTANTS}
        differ = shape.differences(specs)
        if differ:
            _lib.log(f"the contestants' services differ: {differ}")
        updates = self.updates()
        failures = self.failures()
        problems = [f"{kind} round {r['round']} {c}: {r['disturbed']}"
                    for kind, runs in (("update", updates), ("failure", failures))
                    for c, listed in runs.items() for r in listed if r.get("disturbed")]
        return {"created_s": created, "spec_differences": differ, "updates": updates,
                "failures": failures}, problems

    def runs_now(self, contestant):
        """member -> the reference its spec names now (after a settled run)."""
        known = {shape.digest(r): r for r in [*self.hello.values(), *self.jobs]}
        out = {}
        for member in shape.MEMBERS:
            spec = self.api.inspect_service(self.n[contestant][member])["Spec"]
            out[member] = known[shape.digest(spec["TaskTemplate"]["ContainerSpec"]["Image"])]
        return out

    def next_release(self, contestant, job, broken=False):
        out = shape.flipped(self.current[contestant], self.hello["r1"], self.hello["r2"])
        out[shape.JOB] = job
        if broken:
            out[shape.BROKEN] = self.hello["broken"]
        return out

    def updates(self):
        runs = {c: [] for c in shape.CONTESTANTS}
        for i in range(self.args.pairs):
            for contestant in shape.order(i):
                runs[contestant].append(self.update(contestant, i))
        return runs

    def update(self, contestant, round_index):
        old = self.current[contestant]
        new = self.next_release(contestant, self.jobs[1 + round_index])
        wall_start = time.time()
        seconds, codes, done = self.deploy(contestant, new)
        at_return = self.states(contestant, old, new)
        self.settle(contestant)
        record = {"round": round_index + 1, "seconds": round(seconds, 3), "exit": codes,
                  "at_return": at_return, "settled": self.states(contestant, old, new)}
        record["times"] = self.timeline(contestant, wall_start)
        record["step_gaps_s"] = shape.step_gaps(record["times"])
        record["disturbed"] = shape.disturbed("update", contestant, codes, record["settled"])
        if record["disturbed"]:
            record["said"] = said(done)
        self.current[contestant] = self.runs_now(contestant)
        _lib.log(f"round {round_index + 1}: {contestant} {seconds:.1f}s exit {codes} "
                 f"gaps {record['step_gaps_s']} at return {at_return}")
        if record["disturbed"]:
            _lib.log(f"  disturbed: {record['disturbed']}: {record['said'][-1][-300:]}")
        return record

    def failures(self):
        runs = {c: [] for c in shape.CONTESTANTS}
        for k in range(self.args.failures):
            for contestant in shape.order(k):
                runs[contestant].append(self.failure(contestant, k))
        return runs

    def failure(self, contestant, round_index):
        old = self.current[contestant]
        bad = self.next_release(contestant, self.jobs[1 + self.args.pairs + round_index],
                                broken=True)
        wall_start = time.time()
        seconds, codes, done = self.deploy(contestant, bad)
        record = {"round": round_index + 1, "seconds": round(seconds, 3), "exit": codes,
                  "at_return": self.states(contestant, old, bad), "said": said(done)}
        self.settle(contestant)
        record["settled"] = self.states(contestant, old, bad)
        record["times"] = self.timeline(contestant, wall_start)
        record["disturbed"] = shape.disturbed("failure", contestant, codes, record["settled"])
        restore = self.restore(contestant, old, record["settled"])
        record.update(restore)
        record["after_restore"] = back = self.states(contestant, old, bad)
        restored = set(back.values()) == {"old"}
        record["restored_s"] = (round(seconds + restore.get("restore_s", 0.0), 3)
                                if restored else None)
        self.current[contestant] = self.runs_now(contestant)
        _lib.log(f"failure {round_index + 1}: {contestant} {seconds:.1f}s exit {codes}, left "
                 f"{record['settled']}; all old again after {record['restored_s']}s"
                 + (f" (disturbed: {record['disturbed']})" if record["disturbed"] else ""))
        return record

    def restore(self, contestant, old, left):
        """What a user does after the failed release to run the release before again: nothing
        for the group (it did it); the stack file before, deployed again; `shipway rollback`
        of every service the script changed, newest first."""
        changed = [m for m in shape.MEMBERS if left.get(m) not in (None, "old")]
        if contestant == "group" or not changed:
            return {"restore": "none needed" if not changed else "none", "restore_s": 0.0}
        if contestant == "stack":
            seconds, codes, _ = self.deploy_stack(old)
            self.settle(contestant)
            return {"restore": "the stack file before, deployed again (its job runs again)",
                    "restore_s": round(seconds, 3), "restore_exit": codes}
        total, codes = 0.0, []
        for member in reversed(changed):
            seconds, done = self._shipway("rollback", "--service",
                                          self.n["sequential"][member])
            total += seconds
            codes.append(done.returncode)
        self.settle(contestant)
        return {"restore": "shipway rollback of " + ", ".join(reversed(changed)),
                "restore_s": round(total, 3), "restore_exit": codes}


def report(args, runs, problems, started):
    updates, failures = runs["updates"], runs["failures"]
    result = {
        "what": "a release of 5 services (a job, then a wave of 2, then a wave of 2; 2 "
                "replicas each): shipway deploy --group vs docker stack deploy --detach=false "
                f"({STACK_DOCKER}) of the same stack vs 5 shipway deploys one after the other",
        "pairs": args.pairs, "failures": args.failures, "shipway_install": args.install,
        "update_config": shape.UPDATE, "rollback_config": shape.ROLLBACK,
        "load_before": runs.get("load_before"), "load_after": os.getloadavg(),
        "minutes": round((time.monotonic() - started) / 60, 1),
        "created_s": runs["created_s"], "spec_differences": runs["spec_differences"],
        "update": shape.summary(updates),
        "failure_run": shape.summary(failures),
        "failure_restored": shape.summary(failures, key="restored_s"),
        "runs": runs, "problems": problems,
    }
    _lib.write_results("group", result, args.out)
    u, f, r = result["update"], result["failure_run"], result["failure_restored"]
    rows = []
    for contestant in shape.CONTESTANTS:
        gaps = [g for run in updates[contestant] for g in run["step_gaps_s"][:1]]
        left = [run["settled"] for run in failures[contestant]]
        rows.append([contestant, _lib.fmt(u[contestant]["median_s"]),
                     "" if contestant == "group" else u[f"group_vs_{contestant}"]["median_ratio"],
                     _lib.fmt(_lib.median(gaps)), _lib.fmt(f[contestant]["median_s"]),
                     _lib.fmt(r[contestant]["median_s"]), left[-1] if left else ""])
    _lib.print_table(rows, ["contestant", "update", "group/this", "gap job->wave",
                            "failing run", "until all old", "left by the failing run"])
    return 0


def main():
    p = _lib.parser(__doc__)
    p.add_argument("--failures", type=int, default=3,
                   help="rounds of the failing release (default 3)")
    _lib.add_install_argument(p)
    args = p.parse_args()
    load_before = os.getloadavg()
    with _lib.installed(args.install):
        def reported(a, runs, problems, started):
            runs["load_before"] = load_before
            return report(a, runs, problems, started)
        return _lib.run_bench(Bench, args, reported)


if __name__ == "__main__":
    sys.exit(main())
