"""The deploy lock and the failure forensics on the multi-node lab (managers m1-m3, worker w1).

- The lock lives in the managers' Raft store: with its holder on one manager and the leader
  killed, it is still there under the new leader, its holder goes on renewing it, and a
  deploy through another manager still waits for it.
- A release that crashes at start on every node: the forensics of the tasks on other nodes
  (the worker among them) come through the swarm's log broker, not a local container.

Cost: about 2 minutes on 2 shared cores (a leader election, one failed update).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import ROOT, random_name, write_catalog
from tests.integration.test_lock import HOLD
from tests.integration.test_multinode import (  # noqa: F401 (mlab: the fixture)
    REPLICAS,
    Service,
    mlab,
    shipway_on,
)
from tests.support.multinode import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.multinode]


@pytest.fixture(scope="module")
def mreleases(mlab, tmp_path_factory):  # noqa: F811 - mlab is the imported fixture
    """v1, v2 and `crash` (exits 3 at start), pushed through m1 and removed from it."""
    work = str(tmp_path_factory.mktemp("mlock"))
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), os.path.join(work, "hello"),
                    ignore=shutil.ignore_patterns("dist", "dist.tmp"))
    repo = f"{mlab.env['SHIPWAY_REGISTRY']}/test/{random_name('hello')}"
    catalog = write_catalog(os.path.join(work, "catalog.yml"), "hello", repo, "hello")
    run = shipway_on(mlab, "m1", work)
    refs = {"repo": repo}
    for name, version, crash in (("v1", "1.0.0", ""), ("v2", "2.0.0", ""),
                                 ("crash", "5.0.0", "1")):
        env = {"VERSION": version}
        run("build", "--catalog", catalog, "--service", "hello", env=env, check=0)
        run("image", "--catalog", catalog, "--service", "hello", "--tag", name,
            "--build-arg", f"VERSION={version}", "--build-arg", f"CRASH={crash}",
            env=env, check=0)
        pushed = run("push", "--catalog", catalog, "--service", "hello", "--tag", name, check=0)
        refs[name] = f"{repo}:{name}@{pushed.stdout.strip().split('@')[1]}"
    for name in ("v1", "v2", "crash"):
        mlab.client("m1").images.remove(f"{repo}:{name}", force=True)
    yield refs
    mlab.remove_images(repo)


@pytest.fixture
def service(mlab, mreleases, tmp_path):  # noqa: F811
    svc = Service(mlab, mreleases, str(tmp_path))
    yield svc
    mlab.restore()
    svc.remove()
    api = mlab.manager().api
    for config in api.configs(filters={"label": f"shipway.lock.service={svc.name}"}):
        api.remove_config(config["ID"])


def lock_version(api, name):
    return api.inspect_config(f"shipway-lock-{name}")["Version"]["Index"]


def test_the_lock_survives_a_leader_failover_and_still_holds_off_a_deploy(mlab, service):  # noqa: F811
    leader = mlab.leader()
    holder_node, waiter_node = [n for n in mlab.managers if n != leader][:2]
    service.deploy("v1", "1", node=waiter_node, check=0)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, service.name, "release-manager@ops pid 1", "6"],
        env={**os.environ, "PYTHONPATH": ROOT, "DOCKER_HOST": mlab.socket(holder_node)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mlab.act("kill", leader)
        killed = time.monotonic()
        wait_for(lambda: mlab.leader(exclude=[leader]) != leader, 90, "a new leader")
        elected = time.monotonic() - killed
        api = mlab.client(waiter_node).api
        # the holder renews it under the new leader (every 2 s with a 6 s lease)
        before = lock_version(api, service.name)
        wait_for(lambda: lock_version(api, service.name) > before, 30,
                 "the holder to renew the lock under the new leader")
        proc = service.deploy("v2", "2", "--lock-timeout", "3s", node=waiter_node, check=1)
        last = proc.stderr.strip().splitlines()[-1]
        assert "is locked: test by release-manager@ops pid 1" in last, proc.stderr
        assert holder.poll() is None, holder.stderr.read()
        print(f"\nleader {leader} killed, new leader after {elected:.1f}s; the lock held "
              f"through it; the waiter said: {last}")
    finally:
        holder.send_signal(signal.SIGTERM)   # the lock's own handler releases it
        holder.wait(60)
    status = json.loads(service.run("status", "--json", node=waiter_node, check=0).stdout)
    assert status["lock"] is None, status
    service.deploy("v2", "2", node=waiter_node, check=0)


def test_forensics_of_a_crash_on_other_nodes_come_through_the_log_broker(mlab, service):  # noqa: F811
    # Off m1, where shipway runs: every failed task is on another node, readable only
    # through the swarm's log broker. The lab's task history limit is 2: with start-first,
    # swarm prunes a new task that crashed the moment it makes its replacement, before the
    # broker can be asked for its logs; the service logs followed during the deploy kept them.
    write_catalog(service.catalog, service.name, service.releases["repo"], ".",
                  replicas=REPLICAS, networks=["proxy"],
                  extra="      placement: {constraints: [node.hostname != m1]}\n")
    service.deploy("v1", "1", check=0)
    proc = service.deploy("crash", "3", "--json", "--update-parallelism", "0",
                          "--update-failure-action", "pause", check=1)
    record = json.loads(proc.stdout)
    assert record["forensics"], proc.stderr
    summary = [(r["node"], r["logs_from"], len(r["logs"])) for r in record["forensics"]]
    assert all(node != "m1" and source != "container" for node, source, _ in summary), summary
    assert all(lines for _, _, lines in summary), summary
    for rec in record["forensics"]:
        assert rec["exit_code"] == 3, rec
        assert any("fatal: no configuration found" in line for line in rec["logs"]), rec
    print(f"\nforensics of {len(summary)} failed slot(s): "
          + ", ".join(f"{node}: {source}, {lines} lines" for node, source, lines in summary))
