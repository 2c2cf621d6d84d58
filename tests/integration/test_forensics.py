"""A failed deploy says what the app said before it died, and nothing it should not.

Releases of the hello example: `crash` prints two lines (one with its HELLO_SETTINGS) and
exits 3 at start; `broken` answers its health check with 404. The forensics are read from the
console and from the --json record, as a person and the Jenkins job's archive would; a task
that swarm shut down because another change came is never called unhealthy.
"""
import json
import os
import subprocess
import time

import pytest

from tests.integration.conftest import running_digests, wait_for, write_catalog

pytestmark = pytest.mark.integration


@pytest.fixture
def deploy(shipway, releases, service_name, tmp_path):
    catalog = write_catalog(str(tmp_path / "catalog.yml"), service_name, releases["repo"],
                            str(tmp_path))

    def run(release, *args, check=0, **kw):
        return shipway("deploy", "--catalog", catalog, "--service", service_name,
                       "--image", releases[release], *args, check=check, **kw)
    return run


def test_a_release_that_crashes_at_start_leaves_its_last_words_without_the_secret(
        deploy, lab, shipway, service_name, docker_client, releases):
    deploy("v1")
    password = lab["password"]
    proc = deploy("crash", "--json", "--env", f"HELLO_SETTINGS=db-password={password}",
                  check=1)
    for text in (proc.stdout, proc.stderr):
        assert password not in text
    record = json.loads(proc.stdout)
    assert record["ok"] is False and record["forensics"], record
    crashed = record["forensics"][0]
    assert crashed["exit_code"] == 3, crashed
    assert crashed["image"] == releases["crash"]
    assert "non-zero exit (3)" in crashed["error"], crashed
    assert any("fatal: no configuration found" in line for line in crashed["logs"]), crashed
    assert any("db-password=***" in line for line in crashed["logs"]), crashed
    assert crashed["logs_from"] == "container"
    # the console's digest: where, how, the last lines
    assert "forensics: task " in proc.stderr and "exit code 3" in proc.stderr, proc.stderr
    assert "forensics:   | hello: fatal: no configuration found" in proc.stderr, proc.stderr
    # the state file the next stage (and the archive) reads has no secret either
    state_dir = shipway.env["SHIPWAY_STATE_DIR"]
    for root, _, files in os.walk(state_dir):
        for name in files:
            with open(os.path.join(root, name), encoding="utf-8") as handle:
                assert password not in handle.read()
    assert running_digests(docker_client, service_name) == [releases["v1"].rsplit("@")[1]] * 2


def test_a_release_failing_its_health_check_names_the_probe_output_and_exit_code(deploy):
    deploy("v1")
    proc = deploy("broken", "--json", check=1)
    last = proc.stderr.strip().splitlines()[-1]
    # Its probe answers 404; on a busy machine a probe may time out (1s) instead, which is a
    # failed probe too, said as such (the next test makes every probe time out).
    assert "task error: container unhealthy: " in last, last
    assert ("last exit 1: " in last and "404" in last) or "last timed out after 1s" in last, last
    record = json.loads(proc.stdout)
    probes = [p for rec in record["forensics"] for p in rec["health"]]
    assert probes and all((p["exit"] == 1 and "404" in p["output"]) or (
        p["exit"] == -1 and p["output"] == "Health check exceeded timeout (1s)")
        for p in probes), record
    assert ("forensics:   health probe: exit 1: wget: server returned error: HTTP/1.1 404"
            in proc.stderr or "forensics:   health probe: timed out after 1s" in proc.stderr), \
        proc.stderr


def test_a_health_check_that_times_out_is_said_as_a_timeout(deploy, shipway, releases,
                                                             service_name, tmp_path):
    deploy("v1")
    probe = "{test: [CMD, /bin/busybox, sleep, '5'], interval: 1s, timeout: 1s, retries: 2}"
    slow = write_catalog(str(tmp_path / "slow.yml"), service_name, releases["repo"],
                         str(tmp_path), extra=f"    healthcheck: {probe}\n")
    proc = shipway("deploy", "--catalog", slow, "--service", service_name, "--image",
                   releases["v2"], "--json", check=1)
    last = proc.stderr.strip().splitlines()[-1]
    assert "task error: container unhealthy: 2 failed health checks, last timed out after " \
        "1s; the service now runs " in last, last
    assert "forensics:   health probe: timed out after 1s" in proc.stderr, proc.stderr
    assert "exit -1" not in proc.stderr, proc.stderr
    probes = [p for rec in json.loads(proc.stdout)["forensics"] for p in rec["health"]]
    assert probes and all(p == {"exit": -1, "output": "Health check exceeded timeout (1s)"}
                          for p in probes), probes


def test_tasks_replaced_by_another_change_are_not_called_unhealthy(
        deploy, releases, docker_client, service_name, tmp_path):
    deploy("v1")
    import threading

    box = {}
    thread = threading.Thread(target=lambda: box.update(proc=deploy("v2", check=None)))
    thread.start()

    def v2_runs():
        tasks = docker_client.api.tasks(filters={"service": service_name})
        return any(t["Status"]["State"] == "running"
                   and t["Spec"]["ContainerSpec"]["Image"] == releases["v2"] for t in tasks)
    wait_for(v2_runs, 120, poll=0.05, what="a task of v2 to run")
    # someone at a terminal changes the service behind the deploy's back (no lock there)
    subprocess.run(["docker", "service", "update", "--detach", "--quiet", "--image",
                    releases["v3"], service_name], check=True, capture_output=True)
    thread.join(300)
    proc = box["proc"]
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1, proc.stderr
    assert "another change to the service replaced this one: it wants " in last, last
    assert "(a change made outside shipway)" in last, last
    assert "unhealthy" not in proc.stderr, proc.stderr
    assert "update in progress" not in last, last



def test_a_task_that_went_unhealthy_as_swarm_replaced_it_is_not_called_unhealthy(
        shipway, releases, docker_client, service_name, tmp_path):
    """What a busy machine does by chance, made to happen: the old task's container goes
    unhealthy and is still stopping (its PID 1 ignores SIGTERM) when the deploy replaces it;
    swarm ends it `task: non-zero exit (-1): dockerexec: unhealthy container`."""
    extra = ("    entrypoint: [/bin/busybox, sleep, '600']\n    user: '0'\n"
             "    healthcheck: {test: [CMD, /bin/busybox, test, '!', -e, /bad], interval: 1s, "
             "timeout: 1s, retries: 2}\n")
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"],
                            str(tmp_path), replicas=1, extra=extra)

    def deploy(release):
        return shipway("deploy", "--catalog", catalog, "--service", service_name, "--image",
                       releases[release], "--stop-grace-period", "60s", check=0)
    deploy("v1")
    [task] = docker_client.api.tasks(filters={"service": service_name,
                                              "desired-state": "running"})
    container = docker_client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
    container.exec_run(["/bin/busybox", "touch", "/bad"])
    try:
        wait_for(lambda: docker_client.api.inspect_container(container.id)["State"]["Health"][
            "Status"] == "unhealthy", 30, what="the old container to be unhealthy")
        proc = deploy("v2")
        ended = docker_client.api.inspect_task(task["ID"])["Status"]
        assert ended.get("Err") == "task: non-zero exit (-1): dockerexec: unhealthy container", \
            ended
    finally:
        container.remove(force=True)   # not 60 s of grace for the cleanup
    assert f"{task['ID'][:12]} on " in proc.stderr, proc.stderr
    assert "ended after swarm told it to stop" in proc.stderr, proc.stderr
    assert "unhealthy" not in proc.stderr, proc.stderr


def test_the_service_log_follower_keeps_each_tasks_lines_and_stops_at_once(
        deploy, docker_client, service_name):
    from pipeline.api.logs import ServiceLogFollower

    deploy("v1")
    api = docker_client.api
    follower = ServiceLogFollower(api, service_name, time.time(), 50).start()
    deploy("crash", check=1)      # its tasks print two lines and exit; swarm rolls back
    crashed = [t["ID"] for t in api.tasks(filters={"service": service_name})
               if t["Spec"]["ContainerSpec"]["Image"].split("@")[0].endswith(":crash")]
    assert crashed
    wait_for(lambda: any(follower.tail(t) for t in crashed), 30, what="the crashed tasks' lines")
    for task in crashed:
        # stdout and stderr are two streams: their lines may come in either order
        assert sorted(follower.tail(task)) in ([], [
            "hello: fatal: no configuration found (this image was built with CRASH=1)",
            "hello: starting with settings: none"]), follower.tail(task)
    # v1 prints nothing: the reading thread is blocked in recv() when close() comes.
    started = time.monotonic()
    follower.close()
    follower._thread.join(10)
    assert not follower._thread.is_alive(), "the follower did not stop"
    print(f"\nfollowed {len(crashed)} crashed tasks; stopped "
          f"{time.monotonic() - started:.3f}s after close()")
