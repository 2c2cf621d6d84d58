"""shipway on a swarm of several nodes: the multi-node lab (`lab/up --nodes 3+1`: managers m1-m3
and worker w1, each its own dockerd in its own network namespace, a registry with a password on
the lab's bridge). shipway is pointed at one manager's socket with DOCKER_HOST, as at a real
swarm; nothing in it knows it is a lab.

The releases are built and pushed through one node, then removed from it: every node has to
pull every release from the registry, with the credentials deploy sends along (the nodes have
no login of their own). Faults: a manager's dockerd killed (SIGKILL, by pid), a worker's link
to the bridge taken down; every node is put back after each test.

Cost: about 3 minutes on 2 shared cores (4 replicas, start-first, one task at a time), 40 s
more when the lost worker held a task of the update.
Selected with `-m multinode`; lab/test brings the multi-node lab up before running them.
"""
import json
import os
import shutil
import threading
import time

import pytest

from tests.integration.conftest import ROOT, Shipway, random_name, write_catalog
from tests.support.load import measure
from tests.support.multinode import MultiLab, unsupported_reason, wait_for
from tests.support.proxy import SwarmProxy

pytestmark = [pytest.mark.integration, pytest.mark.multinode]

REPLICAS = 4
V1, V2 = "1.0.0", "2.0.0"
LOAD = {"threads": 4, "rate": 40.0, "timeout": 5.0, "max_seconds": 120.0, "max_requests": 6000}


@pytest.fixture(scope="module")
def mlab():
    """The multi-node lab, every node up; put back together after the module."""
    reason = unsupported_reason()
    if reason:
        pytest.skip(f"this machine cannot run the multi-node lab: {reason}")
    problem = None
    try:
        lab = MultiLab()
    except FileNotFoundError:
        problem = "the multi-node lab is not up: run lab/up --nodes 3+1"
    else:
        try:
            lab.restore(timeout=90)
        except (RuntimeError, TimeoutError) as exc:
            problem = f"the multi-node lab is not healthy: {exc}"
    if problem:
        if os.environ.get("SHIPWAY_REQUIRE_LAB") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    yield lab
    lab.restore()
    # as found: the lab's proxy back too (a restarted proxy node takes ~30 s to start it)
    wait_for(lab.proxy_up, 120, "the lab's proxy to answer again")
    lab.close()


def shipway_on(lab, node, workdir):
    """shipway as a subprocess with DOCKER_HOST on NODE's socket and the lab's registry login."""
    run = Shipway(lab.env, workdir)
    run.env["DOCKER_HOST"] = lab.socket(node)
    return run


@pytest.fixture(scope="module")
def mreleases(mlab, tmp_path_factory):
    """v1, v2, v3 of the example, built and pushed through m1, then removed from m1 so that
    every node pulls them. {name: pinned ref, "repo": repository, "path": its registry path}."""
    work = str(tmp_path_factory.mktemp("mreleases"))
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), os.path.join(work, "hello"),
                    ignore=shutil.ignore_patterns("dist", "dist.tmp"))
    repo = f"{mlab.env['SHIPWAY_REGISTRY']}/test/{random_name('hello')}"
    catalog = write_catalog(os.path.join(work, "catalog.yml"), "hello", repo, "hello")
    run = shipway_on(mlab, "m1", work)
    refs = {"repo": repo, "path": repo.split("/", 1)[1]}
    for name, version in (("v1", V1), ("v2", V2), ("v3", "3.0.0")):
        env = {"VERSION": version}
        run("build", "--catalog", catalog, "--service", "hello", env=env, check=0)
        run("image", "--catalog", catalog, "--service", "hello", "--tag", name,
            "--build-arg", f"VERSION={version}", env=env, check=0)
        pushed = run("push", "--catalog", catalog, "--service", "hello", "--tag", name, check=0)
        refs[name] = f"{repo}:{name}@{pushed.stdout.strip().split('@')[1]}"
    for name in ("v1", "v2", "v3"):
        mlab.client("m1").images.remove(f"{repo}:{name}", force=True)
    yield refs
    mlab.remove_images(repo)


def digest(ref):
    return ref.rsplit("@", 1)[1]


class Service:
    """A random service on the multi-node lab, deployed through shipway on a chosen node."""

    def __init__(self, lab, releases, workdir):
        self.lab, self.releases, self.workdir = lab, releases, workdir
        os.makedirs(workdir, exist_ok=True)
        self.name = random_name("mn")
        self.catalog = write_catalog(os.path.join(workdir, "catalog.yml"), self.name,
                                     releases["repo"], ".", replicas=REPLICAS,
                                     networks=["proxy"])
        self.args = ("--catalog", self.catalog, "--service", self.name)

    def run(self, verb, *extra, node="m1", **kw):
        return shipway_on(self.lab, node, self.workdir)(verb, *self.args, *extra, **kw)

    def deploy(self, release, build, *extra, node="m1", **kw):
        return self.run("deploy", "--image", self.releases[release], *extra, node=node,
                        env={"BUILD_NUMBER": build, "GIT_COMMIT": f"{build:0>7}" + "c" * 33}, **kw)

    def tasks(self, exclude=()):
        return self.lab.running_tasks(self.name, exclude)

    def all_on(self, release, exclude=()):
        """Exactly REPLICAS tasks run, every one on `release`."""
        tasks = self.tasks(exclude)
        return len(tasks) == REPLICAS and all(image == self.releases[release]
                                              for _, image in tasks)

    def update_state(self, exclude=()):
        api = self.lab.manager(exclude).api
        return (api.inspect_service(self.name).get("UpdateStatus") or {}).get("State", "")

    def remove(self):
        import docker

        try:
            api = self.lab.manager().api
        except RuntimeError:
            return
        try:
            api.remove_service(self.name)
        except docker.errors.NotFound:
            pass
        for label in ("shipway.release.service", "shipway.lock.service"):
            for config in api.configs(filters={"label": f"{label}={self.name}"}):
                try:
                    api.remove_config(config["ID"])
                except docker.errors.NotFound:
                    pass  # a lock its holder released meanwhile


@pytest.fixture
def service(mlab, mreleases, tmp_path):
    svc = Service(mlab, mreleases, str(tmp_path))
    yield svc
    mlab.restore()
    svc.remove()


def in_background(fn):
    """Run fn() in a thread; returns a function that joins it and returns fn's result."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(value=fn()), daemon=True)
    thread.start()

    def join(timeout=600):
        thread.join(timeout)
        assert not thread.is_alive(), "the background shipway did not end"
        return box["value"]
    return join


def settle_containers(lab, service, nodes, ref, timeout=30):
    """Wait until exactly `nodes` run containers of `service`, each only `ref`'s digest, as
    each node's own engine says. A node stops a replaced task's container a moment after the
    managers have marked it shut down."""
    want = {node: [digest(ref)] for node in nodes}
    seen = {}

    def settled():
        seen.update(now=lab.container_digests(service))
        return seen["now"] == want
    try:
        wait_for(settled, timeout, "the nodes' containers to match the tasks")
    except TimeoutError:
        assert seen["now"] == want


def no_traceback(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1, proc.stderr


def test_deploy_spreads_over_nodes_each_pulls_with_deploy_credentials_rollback_everywhere(
        mlab, mreleases, service):
    for release, build in (("v1", "1"), ("v2", "2")):
        proc = service.deploy(release, build, check=0)
        no_traceback(proc)
        tasks = service.tasks()
        nodes = {node for node, _ in tasks}
        if release == "v1":
            # created: one task on each of the 4 nodes, managers and worker alike
            assert sorted(node for node, _ in tasks) == sorted(mlab.nodes), tasks
        else:
            # updated start-first: swarm places each new task while the old one still runs,
            # so not necessarily one per node, but still over several
            assert len(nodes) >= 2, tasks
        assert service.all_on(release), tasks
        # what each node's own engine runs: a container of the pushed digest, nothing else
        # (once the nodes have stopped the containers the managers told them to stop)
        settle_containers(mlab, service.name, nodes, mreleases[release])
        # every node fetched the manifest itself, and the registry (which asks every request
        # for a login) answered 200: each pulled with the credentials deploy sent
        fetched = mlab.registry_fetches(mreleases["path"], digest(mreleases[release]))
        assert {mlab.ip(n) for n in nodes} <= fetched, (fetched, tasks)

    proc = service.run("rollback", check=0)
    no_traceback(proc)
    assert service.all_on("v1"), service.tasks()
    settle_containers(mlab, service.name, {node for node, _ in service.tasks()}, mreleases["v1"])

    # The control: a service created without the credentials (--no-registry-auth) cannot
    # pull v3 on any node (none has it; the registry answers none of them 200), and deploy
    # says what the nodes say. (A fresh service: on an update without credentials the engine
    # keeps the ones the spec already carries.)
    bare = Service(mlab, mreleases, os.path.join(service.workdir, "bare"))
    try:
        proc = bare.deploy("v3", "3", "--no-registry-auth", "--replicas", "1", "--timeout", "60s")
        no_traceback(proc)
        assert proc.returncode == 1, proc.stderr
        assert "tasks failed to start" in proc.stderr, proc.stderr
        assert "task error: No such image" in proc.stderr, proc.stderr
        assert not mlab.registry_fetches(mreleases["path"], digest(mreleases["v3"]))
    finally:
        bare.remove()


def test_load_through_the_proxy_during_a_deploy_across_nodes_fails_no_request(
        mlab, mreleases, service):
    """A steady load through HAProxy (on the proxy node, reached over the lab's bridge) while
    the 4 tasks, one per node, are replaced: no request fails."""
    proxy_node = mlab.env["SHIPWAY_LAB_PROXY_NODE"]
    image = mlab.manager().api.inspect_service("shipway-proxy")["Spec"]["TaskTemplate"][
        "ContainerSpec"]["Image"]        # pinned: the proxy node has it, nothing is pulled
    service.deploy("v1", "1", check=0)
    with SwarmProxy(mlab.client("m1"), {service.name: True}, image=image,
                    address=mlab.ip(proxy_node),
                    constraints=[f"node.hostname=={proxy_node}"]) as proxy:
        proxy.wait_routed(service.name, lambda version: version == V1, timeout=60)
        proc, load = measure(proxy.port, proxy.host(service.name),
                             lambda: service.deploy("v2", "2"), address=proxy.address, **LOAD)
        print(f"\nmulti-node zero-downtime deploy: {load.describe()}")
        assert proc.returncode == 0, proc.stderr
        assert len({node for node, _ in service.tasks()}) >= 3, service.tasks()
        assert load.failed == 0, load.describe()
        assert load.version_order == [V1, V2], load.describe()
        assert {s.version for s in load.after(load.operation[1])} == {V2}, load.describe()


def test_worker_lost_during_a_deploy_tasks_rescheduled_deploy_tells_the_truth(mlab, service):
    """The worker's link is cut once the update runs. Its tasks move to the managers. If the
    update had a new task on it, swarm's rolling update waits for that task as long as the
    node is away: deploy must then fail naming the lost node. Once the node is back, swarm
    counts that task as failed and (failure_action rollback) rolls the update back: a deploy
    run again must say that, and the next one must get the release out. If the update had
    no task on the worker it completes, and deploy must say so only when all replicas run
    the new release."""
    worker = mlab.workers[0]
    service.deploy("v1", "1", check=0)
    assert worker in {node for node, _ in service.tasks()}, service.tasks()

    join = in_background(lambda: service.deploy("v2", "2", "--timeout", "40s"))
    wait_for(lambda: service.update_state() == "updating", 60, "the update to start")
    mlab.act("disconnect", worker)           # the machine is gone: no goodbye to the swarm
    proc = join()
    no_traceback(proc)
    assert mlab.node_states()[worker][0] == "down", mlab.node_states()
    tasks = service.tasks()
    # rescheduled: every replica runs, on the managers (start-first: a slot whose new task is
    # stuck on the lost node keeps its old task too)
    assert len(tasks) >= REPLICAS and worker not in {node for node, _ in tasks}, tasks
    if proc.returncode == 0:
        # The guarantee: no task of another image runs once deploy returned. Swarm may still
        # run a rescheduled slot twice for a moment (deploy counts replicas by slot), so the
        # exact count is awaited.
        assert all(image == service.releases["v2"] for _, image in service.tasks()), tasks
        wait_for(lambda: service.all_on("v2"), 60, f"{REPLICAS} tasks, all of v2")
        assert f"({REPLICAS}/{REPLICAS} running)" in proc.stdout, proc.stdout
        print("\nworker lost: the update completed without it")
        return
    last = proc.stderr.strip().splitlines()[-1]
    print(f"\nworker lost: {last}")
    assert last.startswith(f"error: update of {service.name} ") and "timed out" in last, last
    assert f"node {worker} is down with task" in last, last
    assert not service.all_on("v2"), tasks
    # the worker back: the same deploy again follows swarm's update to its end, and says it
    mlab.act("connect", worker)
    wait_for(mlab.healthy, 90, f"{worker} to be ready again")
    again = service.deploy("v2", "2", "--timeout", "120s")
    no_traceback(again)
    print(f"worker back: {(again.stderr.strip().splitlines() or [''])[-1]}")
    if again.returncode == 0:
        assert service.all_on("v2"), service.tasks()
        return
    assert "swarm rolled the update back" in again.stderr, again.stderr
    wait_for(lambda: service.all_on("v1"), 30, "the rolled back tasks")
    final = service.deploy("v2", "2", "--timeout", "120s", check=0)
    assert "updated" in final.stdout and service.all_on("v2"), (final.stdout, service.tasks())


def test_leader_killed_during_a_deploy(mlab, service, tmp_path):
    leader = mlab.leader()
    survivor = next(n for n in mlab.managers if n != leader)
    service.deploy("v1", "1", node=leader, check=0)

    # shipway on the leader's socket, and the leader's dockerd killed once the update runs
    join = in_background(lambda: service.deploy("v2", "2", "--timeout", "45s", node=leader))
    wait_for(lambda: service.update_state() == "updating"
             and any(image == service.releases["v2"] for _, image in service.tasks()),
             60, "the update to have replaced a task")
    mlab.act("kill", leader)
    killed_at = time.monotonic()
    # asked meanwhile, a surviving manager has no leader (yet): one clear line, or the answer
    during = service.run("status", node=survivor)
    no_traceback(during)
    assert during.returncode == 0 or during.stderr.startswith("error: "), during.stderr
    print(f"\nstatus from {survivor} {time.monotonic() - killed_at:.1f}s after the kill: "
          f"{(during.stderr.strip() or during.stdout.strip()).splitlines()[-1]}")

    # the update goes on under a new leader, elected among the managers left
    wait_for(lambda: mlab.leader(exclude=[leader]) != leader, 60, "a new leader")
    elected = time.monotonic() - killed_at
    wait_for(lambda: service.update_state(exclude=[leader]) == "completed"
             and service.all_on("v2", exclude=[leader]), 120,
             "the update to complete under the new leader")

    # shipway on the dead socket: one clear line about the lost engine, after its timeout
    proc = join()
    no_traceback(proc)
    assert proc.returncode == 1, proc.stderr
    assert "lost the connection to the Docker Engine" in proc.stderr, proc.stderr
    assert "error: update of" in proc.stderr and "waiting for the Docker Engine" in proc.stderr, \
        proc.stderr
    print(f"\nleader {leader} killed: new leader after {elected:.1f}s; shipway said: "
          f"{proc.stderr.strip().splitlines()[-1]}")

    # from a surviving manager: status tells what runs; the same deploy, run again, finds it
    # done and records the release; a rollback goes back to v1 on every node
    status = json.loads(service.run("status", "--json", node=survivor, check=0).stdout)
    assert status["image"] == service.releases["v2"], status
    assert status["replicas"]["running_this_image"] == REPLICAS, status
    assert status["update"]["state"] == "completed", status
    again = service.deploy("v2", "2", node=survivor, check=0)
    assert "unchanged" in again.stdout, again.stdout
    back = service.run("rollback", node=survivor, check=0)
    no_traceback(back)
    assert service.all_on("v1", exclude=[leader]), service.tasks(exclude=[leader])

    # the killed manager comes back (the fixture waits for 3 reachable managers anyway)
    mlab.act("start", leader)
    wait_for(mlab.healthy, 120, "the killed manager to be reachable again")
