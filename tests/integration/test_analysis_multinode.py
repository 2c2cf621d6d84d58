"""HTTP checks of deploy.analysis on the multi-node lab (`lab/up --nodes 3+1`): shipway talks to
m1's engine only, and the new release's tasks run on m1, m2, m3 and w1. The probe (a task
pinned to m1, built there from this machine's busybox, pulled by nobody) asks each of them
over the overlay network; a release whose /api/orders/ answers 500 is rolled back in the
canary, a good one passes with every task asked. No Prometheus: the checks are HTTP only.

Cost: about 2 minutes on 2 shared cores (two releases built, three deploys of 4 replicas).
"""
import json
import os
import re
import shutil

import pytest

from tests.integration.conftest import ROOT, Shipway, random_name, write_catalog
from tests.support.multinode import MultiLab, unsupported_reason

pytestmark = [pytest.mark.integration, pytest.mark.multinode]

REPLICAS = 4
ANALYSIS = """      analysis:
        interval: 1s
        canary: 3s
        bake: 2s
        failure_limit: 2
        checks:
          - {name: smoke, http: {path: /api/orders/, port: 8080, requests: 1}}
"""


@pytest.fixture(scope="module")
def mlab():
    reason = unsupported_reason()
    if reason:
        pytest.skip(f"this machine cannot run the multi-node lab: {reason}")
    try:
        lab = MultiLab()
        lab.restore(timeout=90)
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        if os.environ.get("SHIPWAY_REQUIRE_LAB") == "1":
            pytest.fail(f"the multi-node lab is not up and healthy: {exc}")
        pytest.skip(f"the multi-node lab is not up and healthy: {exc}")
    yield lab
    lab.close()


def shipway_on_m1(lab, workdir):
    run = Shipway(lab.env, workdir)
    run.env["DOCKER_HOST"] = lab.socket("m1")
    return run


@pytest.fixture(scope="module")
def built(mlab, tmp_path_factory):
    """good (1.0.0) and noroute (/api/orders/ answers 500), pushed through m1 and removed
    from it, so that every node pulls them."""
    work = str(tmp_path_factory.mktemp("mhttp"))
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), os.path.join(work, "hello"),
                    ignore=shutil.ignore_patterns("dist", "dist.tmp"))
    repo = f"{mlab.env['SHIPWAY_REGISTRY']}/test/{random_name('mhttp')}"
    catalog = write_catalog(os.path.join(work, "catalog.yml"), "hello", repo, "hello")
    run = shipway_on_m1(mlab, work)
    refs = {"repo": repo}
    run("build", "--catalog", catalog, "--service", "hello", check=0)
    for name, args in (("good", []), ("good2", ["VERSION=2.0.0"]),
                       ("noroute", ["BROKEN_ROUTE=1"])):
        build_args = [a for arg in args for a in ("--build-arg", arg)]
        run("image", "--catalog", catalog, "--service", "hello", "--tag", name, *build_args,
            check=0)
        pushed = run("push", "--catalog", catalog, "--service", "hello", "--tag", name, check=0)
        refs[name] = f"{repo}:{name}@{pushed.stdout.strip().split('@')[1]}"
        mlab.client("m1").images.remove(f"{repo}:{name}", force=True)
    yield refs
    mlab.remove_images(repo)


@pytest.fixture
def service(mlab, tmp_path):
    name = random_name("mnhttp")
    yield name
    api = mlab.manager().api
    for svc in api.services(filters={"name": name}):
        api.remove_service(svc["ID"])
    for config in api.configs(filters={"label": f"shipway.release.service={name}"}):
        api.remove_config(config["ID"])


def test_http_checks_reach_the_new_releases_tasks_on_every_node(mlab, built, service,
                                                                tmp_path):
    work = str(tmp_path)
    run = shipway_on_m1(mlab, work)
    catalog = write_catalog(os.path.join(work, "c.yml"), service, built["repo"], ".",
                            replicas=REPLICAS, networks=["proxy"], extra=ANALYSIS)
    args = ("--catalog", catalog, "--service", service)
    run("deploy", *args, "--image", built["good"], check=0)     # a create: judged too
    assert len({node for node, _ in mlab.running_tasks(service)}) > 1   # spread over nodes

    bad = run("deploy", *args, "--image", built["noroute"], "--json", check=1)
    error = bad.stderr.strip().splitlines()[-1]
    assert re.search(r"check smoke: 1 of 1 requests to 1 task failed \(task \d at [0-9.]+: "
                     r"HTTP 500, expected 200\) \(2 failed evaluations, canary\)", error), \
        bad.stderr
    assert [image for _, image in mlab.running_tasks(service)] == [built["good"]] * REPLICAS

    good = run("deploy", *args, "--image", built["good2"], "--json", check=0)
    record = json.loads(good.stdout)
    bake = [e for e in record["analysis"]["evaluations"] if e["phase"] == "bake"]
    assert bake and all(e["reason"] == f"{REPLICAS} requests to {REPLICAS} tasks: all "
                        "answered 200" for e in bake), record["analysis"]
    nodes = {node for node, _ in mlab.running_tasks(service)}
    assert nodes - {"m1"}, nodes    # tasks on other nodes than the probe's were asked
    assert not mlab.manager().api.services(
        filters={"label": f"shipway.probe.service={service}"})
