"""The deploy lock with real concurrent shipway processes on the lab's swarm.

Each holder runs as its own `python -m pipeline` process, as two Jenkins builds (or a build
and a person at a terminal) would; the lock is read back with the Docker API. A short lease
(SHIPWAY_LOCK_LEASE=3) keeps the expiry tests to seconds.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import ROOT, running_digests, wait_for, write_catalog

pytestmark = pytest.mark.integration

LEASE = "3"
HOLD = """
import sys, time
import docker
from pipeline.swarm import lock
api = docker.from_env().api
with lock.held(api, sys.argv[1], holder=sys.argv[2], command="test", timeout=5,
               report=print, lease=float(sys.argv[3])):
    print("held", flush=True)
    time.sleep(600)
"""


def lock_config(client, service):
    import docker

    try:
        return client.api.inspect_config(f"shipway-lock-{service}")
    except docker.errors.NotFound:
        return None


def digest(ref):
    return ref.rsplit("@", 1)[1]


@pytest.fixture
def svc(shipway, releases, service_name, tmp_path):
    """(run(verb, *args, job=..., **kw), Popen-starter) for one service with the test catalog."""
    catalog = write_catalog(str(tmp_path / "catalog.yml"), service_name, releases["repo"],
                            str(tmp_path))
    base = ("--catalog", catalog, "--service", service_name)

    def env_of(job):
        return {"JOB_NAME": job, "BUILD_NUMBER": "7",
                "BUILD_URL": f"http://jenkins.invalid/job/{job}/7/",
                "SHIPWAY_LOCK_LEASE": LEASE}

    def run(verb, *args, job="term", **kw):
        return shipway(verb, *base, *args, env=env_of(job), **kw)

    def start(verb, *args, job="term"):
        return subprocess.Popen([sys.executable, "-m", "pipeline", verb, *base, *args],
                                cwd=shipway.workdir, env={**shipway.env, **env_of(job)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return run, start


def hold(service, holder="tester@box pid 1"):
    """A process holding the service's lock (lease 3 s) until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, service, holder, LEASE],
                            env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_two_deploys_serialise_the_second_waits_names_the_first_and_wins(
        svc, releases, docker_client, service_name):
    run, start = svc
    run("deploy", "--image", releases["v1"], check=0)
    first = start("deploy", "--image", releases["v2"], job="pipe-a")
    wait_for(lambda: lock_config(docker_client, service_name), 60, poll=0.05,
             what="the first deploy to take the lock")
    second = start("deploy", "--image", releases["v3"], job="pipe-b")
    code1, _, err1 = finish(first)
    code2, _, err2 = finish(second)
    assert (code1, code2) == (0, 0), err1 + err2
    assert "lock: service" in err2 and "is locked (deploy by pipe-a #7 " \
        "http://jenkins.invalid/job/pipe-a/7/" in err2, err2
    assert "another change" not in err1 + err2 and "unhealthy" not in err1 + err2
    assert running_digests(docker_client, service_name) == [digest(releases["v3"])] * 2
    assert lock_config(docker_client, service_name) is None   # released by both


def test_deploy_and_rollback_started_together_run_one_after_the_other(
        svc, releases, docker_client, service_name):
    run, start = svc
    run("deploy", "--image", releases["v1"], check=0)
    run("deploy", "--image", releases["v2"], check=0)
    deploy = start("deploy", "--image", releases["v3"], job="pipeline")
    rollback = start("rollback", job="rollback-button")
    (c1, _, e1), (c2, _, e2) = finish(deploy), finish(rollback)
    assert (c1, c2) == (0, 0), e1 + e2
    assert "another change" not in e1 + e2 and "unhealthy" not in e1 + e2, e1 + e2
    # whichever went second waited, naming the first, and its result is what runs
    if "is locked" in e2:
        assert "(deploy by pipeline #7" in e2, e2
        want = releases["v2"]        # rolled back from v3 to the release before it
    else:
        assert "is locked (rollback by rollback-button #7" in e1, e1
        want = releases["v3"]
    assert running_digests(docker_client, service_name) == [digest(want)] * 2


def test_a_sigkilled_holders_lock_expires_after_its_lease(svc, releases, docker_client,
                                                          service_name):
    run, start = svc
    run("deploy", "--image", releases["v1"], check=0)
    victim = start("deploy", "--image", releases["v2"], job="lost-agent")
    wait_for(lambda: lock_config(docker_client, service_name), 60, poll=0.05,
             what="the deploy to take the lock")
    victim.kill()   # SIGKILL: no finally, no release
    victim.communicate()
    assert lock_config(docker_client, service_name) is not None
    started = time.monotonic()
    proc = run("deploy", "--image", releases["v3"], check=0)
    assert "broke the expired lock" in proc.stderr and "lost-agent #7" in proc.stderr, \
        proc.stderr
    assert time.monotonic() - started < 120
    assert running_digests(docker_client, service_name) == [digest(releases["v3"])] * 2


def test_a_waiter_gives_up_after_lock_timeout_naming_the_holder_and_status_shows_it(
        svc, releases, service_name, docker_client):
    run, _ = svc
    holder = hold(service_name, "alice@desk pid 4242")
    try:
        started = time.monotonic()
        proc = run("deploy", "--image", releases["v1"], "--lock-timeout", "2s", check=1)
        waited = time.monotonic() - started
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: service {service_name} is locked: test by alice@desk "
                               "pid 4242 since "), last
        assert f"(try again when it is done, or break the lock if that command is dead: " \
               f"shipway unlock --service {service_name})" in last, last
        assert 2 <= waited < 30, waited
        assert not docker_client.api.services(filters={"name": service_name})  # nothing made
        # --json: the record the Jenkins job archives says who held it, too
        proc = run("deploy", "--image", releases["v1"], "--lock-timeout", "1s", "--json",
                   check=1)
        record = json.loads(proc.stdout)
        assert record["ok"] is False and record["kind"] == "LockError", record
        assert record["lock"]["holder"] == "alice@desk pid 4242", record
        assert record["exit_code"] == 1 and record["stage"] == "deploy", record
    finally:
        holder.kill()
        holder.wait()


def test_status_shows_the_lock_and_a_settled_deploy_is_not_in_progress(
        svc, releases, service_name):
    run, _ = svc
    run("deploy", "--image", releases["v1"], check=0)
    run("deploy", "--image", releases["v2"], check=0)
    # swarm idles its last delay/monitor before `completed`: status says the update is done
    status = run("status", check=0).stdout
    assert "update:    update done" in status or "update:    completed" in status, status
    assert "update in progress" not in status, status
    assert "lock:      free" in status, status
    holder = hold(service_name, "bob@laptop pid 77")
    try:
        record = json.loads(run("status", "--json", check=0).stdout)
        assert record["lock"]["holder"] == "bob@laptop pid 77", record
        assert "lock:      test by bob@laptop pid 77 since " in run("status", check=0).stdout
    finally:
        holder.kill()
        holder.wait()


def test_unlock_breaks_a_held_lock_and_says_whose_it_was(svc, releases, docker_client,
                                                        service_name):
    run, start = svc
    run("deploy", "--image", releases["v1"], check=0)
    holder = start("deploy", "--image", releases["v2"], job="stuck-build")
    wait_for(lambda: lock_config(docker_client, service_name), 60, poll=0.05,
             what="the deploy to take the lock")
    out = run("unlock", check=0).stdout
    assert out.startswith(f"{service_name}: broke the lock of deploy by stuck-build #7 "
                          "http://jenkins.invalid/job/stuck-build/7/ since "), out
    assert "not locked" in run("unlock", check=0).stdout
    code, _, err = finish(holder)
    # the holder finishes its deploy; it noticed it lost the lock (when it renewed in time)
    assert code == 0, err
    assert lock_config(docker_client, service_name) is None


def test_sigterm_from_a_jenkins_abort_releases_the_lock(svc, releases, docker_client,
                                                        service_name):
    run, start = svc
    run("deploy", "--image", releases["v1"], check=0)
    proc = start("deploy", "--image", releases["v2"], job="aborted")
    wait_for(lambda: lock_config(docker_client, service_name), 60, poll=0.05,
             what="the deploy to take the lock")
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc, 60)
    assert code == 143, err
    assert err.strip().splitlines()[-1].startswith("error: terminated by SIGTERM"), err
    assert lock_config(docker_client, service_name) is None
    # the next deploy takes the lock at once
    proc = run("deploy", "--image", releases["v2"], check=0)
    assert "is locked" not in proc.stderr
