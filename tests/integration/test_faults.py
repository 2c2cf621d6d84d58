"""Faults survived, nothing lost: the Docker Engine restarting under a deploy, two changes of
one service at once, shipway killed mid-deploy, Jenkins failing for good during `jobs sync`.

(Registry faults are in test_stages.py, transient Jenkins faults in test_jobs_sync.py.)

Every wait here is on a condition, bounded; nothing sleeps to synchronise.
"""
import os
import re
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import LAB_DIR, ROOT, running_digests, write_catalog
from tests.support.poll import poll_until

pytestmark = pytest.mark.integration

REPLICAS = "3"
# Slow enough to be caught in the middle: 3 tasks, 2 s between them, 2 s monitor each.
SLOW = ("--replicas", REPLICAS, "--update-delay", "2s", "--update-parallelism", "1")

# Runs shipway with engine.update_service held at a barrier the first time it is called,
# until every process sharing the barrier directory got there: they all read the service at
# the same version, so all but the first writer get "update out of sequence" for sure.
BARRIER_MAIN = """\
import contextlib, os, sys, time
from pipeline.api import engine
# Without the deploy lock (test_lock.py tests it): what it prevents between shipway runs
# still happens between shipway and anything else that writes the service.
import pipeline.stages.common
pipeline.stages.common.locked = lambda *args, **kwargs: contextlib.nullcontext()
barrier, parties = os.environ["TEST_BARRIER_DIR"], int(os.environ["TEST_BARRIER_PARTIES"])
original, first = engine.update_service, [True]
def update_service(*args, **kwargs):
    if first[0]:
        first[0] = False
        open(os.path.join(barrier, str(os.getpid())), "w").close()
        deadline = time.monotonic() + 60
        while len(os.listdir(barrier)) < parties and time.monotonic() < deadline:
            time.sleep(0.01)
    return original(*args, **kwargs)
engine.update_service = update_service
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def digest(ref):
    return ref.rsplit("@", 1)[1]


class Started:
    """A shipway subprocess started in the background."""

    def __init__(self, shipway, args, env=None, code=None):
        self.args = args
        argv = [sys.executable, "-m", "pipeline"] if code is None else [sys.executable, "-c", code]
        self.proc = subprocess.Popen(argv + list(args), cwd=shipway.workdir,
                                     env={**shipway.env, **(env or {})}, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.started = time.monotonic()
        self.seconds = None
        self.stdout = self.stderr = None

    def finish(self, timeout=240):
        self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        self.seconds = time.monotonic() - self.started
        return self

    @property
    def returncode(self):
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        return self.finish(timeout=30)

    def describe(self):
        return (f"shipway {' '.join(self.args)} exited {self.returncode} after "
                f"{self.seconds:.1f}s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")


def assert_clean_exit(run):
    """Exit 0, or exit 1 with one `error:` line as the last line; never a traceback."""
    assert "Traceback" not in run.stderr, run.describe()
    assert run.returncode in (0, 1), run.describe()
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    if run.returncode == 0:
        assert errors == [], run.describe()
    else:
        assert len(errors) == 1 and run.stderr.rstrip("\n").splitlines()[-1] == errors[0], \
            run.describe()


def update_state(client, service):
    return (client.api.inspect_service(service).get("UpdateStatus") or {}).get("State", "")


@pytest.fixture
def deploy_args(shipway, service_name, releases, tmp_path):
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".")
    return ("--catalog", catalog, "--service", service_name)


def check_status_is_the_truth(shipway, deploy_args, client, service, image):
    """`status` says the service runs `image`, every replica runs it, and the running release
    is recorded with that digest."""
    status = shipway.json("status", *deploy_args)
    assert status["image"] == image, status
    # Every running task runs the image, and every replica slot has one. By slot: after a
    # dockerd restart mid-update swarm may run two tasks of one slot for minutes (its updater
    # starts the slot's task again), and `status` reports those tasks as they are.
    assert status["replicas"]["running"] == status["replicas"]["running_this_image"] >= \
        status["replicas"]["desired"], status
    assert status["release"] and status["release"]["digest"] == digest(image), status
    assert set(running_digests(client, service)) == {digest(image)}
    slots = {t["Slot"] for t in client.api.tasks(filters={"service": service,
                                                          "desired-state": "running"})
             if t["Status"]["State"] == "running"}
    assert len(slots) == status["replicas"]["desired"], slots
    listed = shipway.json("releases", *deploy_args)
    assert [r["digest"] for r in listed if r["running"]] == [digest(image)], listed
    return status


# ---------------------------------------------------------------------------- two at once

def test_two_deploys_at_once_end_on_one_release_and_both_say_which(
        shipway, deploy_args, releases, service_name, docker_client, tmp_path):
    shipway("deploy", *deploy_args, "--image", releases["v1"], check=0)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {"TEST_BARRIER_DIR": str(barrier), "TEST_BARRIER_PARTIES": "2"}
    runs = {name: Started(shipway, ("deploy", *deploy_args, "--image", releases[name]),
                          env=env, code=BARRIER_MAIN) for name in ("v2", "v3")}
    for run in runs.values():
        run.finish()
        assert_clean_exit(run)
    final = docker_client.api.inspect_service(service_name)["Spec"]["TaskTemplate"][
        "ContainerSpec"]["Image"]
    assert final in (releases["v2"], releases["v3"])
    winner = next(name for name in runs if releases[name] == final)
    loser = next(name for name in runs if name != winner)
    # Both wrote at the same version: the one refused retried on the fresh spec and won.
    assert "update out of sequence" in runs[winner].stderr, runs[winner].describe()
    assert "retrying on its fresh spec" in runs[winner].stderr
    assert runs[winner].returncode == 0, runs[winner].describe()
    assert runs[winner].stdout.startswith(f"{service_name}: updated {final} "), \
        runs[winner].describe()
    # The other one says its update was replaced, and by what.
    assert runs[loser].returncode == 1, runs[loser].describe()
    last = runs[loser].stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: update of {service_name} to {releases[loser]} failed: "
                           "another change to the service replaced this one"), last
    # which change won (what the spec wants now), and what the tasks run at that moment
    assert f"replaced this one: it wants {final.rsplit('@', 1)[0]}@sha256:" in last, last
    assert "; the service now runs " in last, last
    status = check_status_is_the_truth(shipway, deploy_args, docker_client, service_name, final)
    listed = shipway.json("releases", *deploy_args)
    assert [r["digest"] for r in listed] == [digest(final), digest(releases["v1"])]
    assert status["update"]["state"] == "completed"


def test_a_deploy_and_a_rollback_at_once(shipway, deploy_args, releases, service_name,
                                         docker_client, tmp_path):
    shipway("deploy", *deploy_args, "--image", releases["v1"], check=0)
    shipway("deploy", *deploy_args, "--image", releases["v2"], check=0)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {"TEST_BARRIER_DIR": str(barrier), "TEST_BARRIER_PARTIES": "2"}
    deploy = Started(shipway, ("deploy", *deploy_args, "--image", releases["v3"]), env=env,
                     code=BARRIER_MAIN)
    rollback = Started(shipway, ("rollback", *deploy_args), env=env, code=BARRIER_MAIN)
    for run in (deploy, rollback):
        run.finish()
        assert_clean_exit(run)
    final = docker_client.api.inspect_service(service_name)["Spec"]["TaskTemplate"][
        "ContainerSpec"]["Image"]
    assert final in (releases["v1"], releases["v3"])
    winner, loser = (deploy, rollback) if final == releases["v3"] else (rollback, deploy)
    assert "update out of sequence" in winner.stderr, winner.describe()
    assert winner.returncode == 0 and loser.returncode == 1, (winner.describe(),
                                                              loser.describe())
    last = loser.stderr.strip().splitlines()[-1]
    assert "another change to the service replaced this one" in last, last
    # which change won (what the spec wants now), and what the tasks run at that moment
    assert f"replaced this one: it wants {final.rsplit('@', 1)[0]}@sha256:" in last, last
    assert "; the service now runs " in last, last
    if winner is deploy:
        assert winner.stdout.startswith(f"{service_name}: updated {final} ")
    else:
        assert winner.stdout.strip() == (f"{service_name}: rolled back from {releases['v2']} "
                                         f"to {final} (release #1)")
    check_status_is_the_truth(shipway, deploy_args, docker_client, service_name, final)


# ---------------------------------------------------------------------------- SIGKILL

def test_shipway_killed_mid_deploy_swarm_finishes_and_a_rerun_tells_the_truth(
        shipway, deploy_args, releases, service_name, docker_client):
    shipway("deploy", *deploy_args, "--image", releases["v1"], "--replicas", REPLICAS, check=0)
    args = ("deploy", *deploy_args, "--image", releases["v2"], *SLOW)
    run = Started(shipway, args)
    poll_until(lambda: update_state(docker_client, service_name) == "updating", 60,
               "the update to start")
    killed = run.kill()
    assert killed.returncode == -9
    # Nothing of shipway is left to finish the job: swarm does, on its own.
    poll_until(lambda: update_state(docker_client, service_name) == "completed", 120,
               "swarm to complete the update by itself", interval=0.5)
    assert [r["seq"] for r in shipway.json("releases", *deploy_args)] == [1]  # killed: no record

    again = shipway(*args, check=0)
    # the killed run's deploy lock was never released: it expired after its lease
    assert "lock: broke the expired lock" in again.stderr, again.stderr
    assert again.stdout.strip() == f"{service_name}: unchanged {releases['v2']} (3/3 running)"
    assert "release #2 recorded" in again.stderr  # what the killed run did not get to
    check_status_is_the_truth(shipway, deploy_args, docker_client, service_name, releases["v2"])
    third = shipway(*args, check=0)
    assert "unchanged" in third.stdout and "recorded" not in third.stderr
    assert [r["seq"] for r in shipway.json("releases", *deploy_args)] == [2, 1]


# ---------------------------------------------------------------------------- engine restart

def _lab_shell(script, timeout):
    """Run `script` with the lab's lib.sh sourced (its settings, stop_pid, ...)."""
    return subprocess.run(["bash", "-c", f'set -euo pipefail; source "$1"; {script}', "lab",
                           os.path.join(ROOT, "lab", "lib.sh")],
                          capture_output=True, text=True, timeout=timeout)


def _registry_pid():
    try:
        with open(os.path.join(LAB_DIR, "registry.pid"), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _engine_answers():
    import docker
    import requests

    try:
        client = docker.from_env(timeout=5)
        try:
            return client.ping() and client.info()["Swarm"]["ControlAvailable"]
        finally:
            client.close()
    except (docker.errors.DockerException, requests.exceptions.RequestException, KeyError):
        return False  # no socket yet, a 5xx while swarm starts, no Swarm section: not yet


@pytest.fixture
def restartable_engine(lab):
    """The lab's own dockerd (lab/up started it); the lab is whole again afterwards."""
    check = _lab_shell('pid_running "$LAB_STATE/dockerd.pid" dockerd && '
                       '[[ -e "$LAB_STATE/dockerd.by-lab" ]]', 30)
    if check.returncode != 0:
        pytest.skip("the engine was not started by lab/up: not ours to restart")
    registry = _registry_pid()
    yield
    if not _engine_answers() or _lab_shell('proxy_settled() { curl -sf -o /dev/null -m 2 '
                                           '"http://127.0.0.1:$LAB_HTTP_PORT/_lab/proxy-health";'
                                           ' }; proxy_settled', 30).returncode != 0:
        subprocess.run([os.path.join(ROOT, "lab", "up")], capture_output=True, timeout=600)
    assert _engine_answers(), "the lab's engine did not come back"
    assert _registry_pid() == registry, "the registry was restarted"
    assert _lab_shell('pid_running "$LAB_STATE/registry.pid" docker-registry',
                      30).returncode == 0, "the registry died"


def test_engine_restarted_while_deploy_waits(shipway, deploy_args, releases, service_name,
                                              docker_client, restartable_engine, capsys):
    shipway("deploy", *deploy_args, "--image", releases["v1"], "--replicas", REPLICAS, check=0)
    args = ("deploy", *deploy_args, "--image", releases["v2"], *SLOW, "--timeout", "150s")
    run = Started(shipway, args)
    poll_until(lambda: update_state(docker_client, service_name) == "updating", 60,
               "the update to start")
    began = time.monotonic()
    stop = _lab_shell('stop_pid "$LAB_STATE/dockerd.pid" dockerd 60', 120)
    assert stop.returncode == 0, stop.stderr
    assert not _engine_answers()
    stopped = time.monotonic()
    up = subprocess.run([os.path.join(ROOT, "lab", "up")], capture_output=True, text=True,
                        timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    restarted = time.monotonic()
    run.finish(timeout=300)
    with capsys.disabled():
        print(f"\n[engine restart] stop {stopped - began:.1f}s, lab/up {restarted - stopped:.1f}s,"
              f" deploy ended {run.seconds:.1f}s after it started, exit {run.returncode}: "
              f"{(run.stdout or run.stderr).strip().splitlines()[-1]}")
    assert_clean_exit(run)
    assert "lost the connection to the Docker Engine" in run.stderr, run.describe()
    if run.returncode == 0:
        assert "reconnected to the Docker Engine" in run.stderr, run.describe()
        assert run.stdout.startswith(f"{service_name}: updated {releases['v2']} ")

    again = shipway(*args, check=0)
    assert re.match(rf"{service_name}: (unchanged|updated) {re.escape(releases['v2'])} "
                    r"\(3/3 running\)$", again.stdout.strip()), again.stdout + again.stderr
    check_status_is_the_truth(shipway, deploy_args, docker_client, service_name, releases["v2"])


# ---------------------------------------------------------------------------- Jenkins for good

def test_jenkins_resetting_one_job_for_good_leaves_the_others_provisioned(tmp_path):
    import io

    from pipeline.cli import main
    from pipeline.console import Console
    from pipeline.jobs import client as clientmod
    from tests.support.jenkins_double import JenkinsDouble

    token = "f" * 32
    catalog = tmp_path / "demo.yml"
    catalog.write_text("name: demo\nservices:\n"
                       "  hello: {image: r/hello, jenkins: {folder: demo, repo: https://g/h.git}}\n"
                       "  world: {image: r/world, jenkins: {folder: demo, repo: https://g/w.git}}\n")
    saved = clientmod.BACKOFF_INITIAL
    clientmod.BACKOFF_INITIAL = 0.01
    try:
        with JenkinsDouble(users={"admin": token}) as double:
            double.faults.add(reset=True, count=1000, path_regex=r"createItem\?name=world$")
            out, err = io.StringIO(), io.StringIO()
            code = main(["jobs", "sync", "--catalog", str(catalog), "--jenkins-url", double.url],
                        environ={"JENKINS_USER": "admin", "JENKINS_TOKEN": token},
                        console=Console(out=out, err=err))
            names = double.item_names()
    finally:
        clientmod.BACKOFF_INITIAL = saved
    lines = out.getvalue().splitlines()
    assert code == 1, out.getvalue() + err.getvalue()
    assert lines[0] == "jobs: created 4, updated 0, unchanged 0, pruned 0, failed 1"
    assert len(lines) == 2 and lines[1].startswith("failed demo/world: "), lines
    assert names == ["demo", "demo/hello", "demo/hello-rollback", "demo/world-rollback"]
    assert "Traceback" not in err.getvalue() and token not in out.getvalue() + err.getvalue()
