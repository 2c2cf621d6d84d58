"""deploy.analysis on the lab: real swarm, real HAProxy (its exporter), real Prometheus.

Each test runs its own HAProxy (tests/support/proxy.py, the lab's template with the exporter)
and its own Prometheus scraping it every second, sends steady load through the proxy while
shipway deploys, and reads what runs from the engine. Windows are short (1 s interval, 4 s
canary and bake) so the file stays well under a minute per test.
"""
import base64
import json
import os
import re
import shutil

import pytest

from tests.integration.conftest import (
    ROOT,
    Shipway,
    random_name,
    remove_service_and_releases,
    running_digests,
    wait_for,
    write_catalog,
)
from tests.support import prometheus as promsupport
from tests.support.load import Load
from tests.support.proxy import SwarmProxy

pytestmark = pytest.mark.skipif(bool(promsupport.available()), reason=promsupport.available())

RATE_WINDOW = "3s"


def error_ratio(service):
    """PromQL: the share of 5xx answers HAProxy gave for the service's backend."""
    sel = f'proxy="svc_{service}"'
    return (f'sum(rate(haproxy_backend_http_responses_total{{{sel},code="5xx"}}[{RATE_WINDOW}]))'
            f' / sum(rate(haproxy_backend_http_responses_total{{{sel}}}[{RATE_WINDOW}]))')


def analysis_block(prom_url, service, *, canary="4s", bake="4s", no_data="fail", limit=2,
                   query=None, pushgateway=None):
    query = query or error_ratio(service)
    lines = ["      analysis:", f"        prometheus: {prom_url}", "        interval: 1s",
             f"        failure_limit: {limit}", f"        canary: {canary}",
             f"        bake: {bake}", f"        no_data: {no_data}"]
    if pushgateway:
        lines.append(f"        pushgateway: {pushgateway}")
    lines += ["        checks:", "          - name: error-rate",
              f"            query: {json.dumps(query)}", "            max: 0.05"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def judged_releases(lab, tmp_path_factory):
    """Pushed releases of the hello example: good1, good2, bad (60% of / fail at once),
    late (every / fails from 9 s after its container started), broken (its health check
    fails) and noroute (/ and /health fine, /api/orders/ answers 500)."""
    work = str(tmp_path_factory.mktemp("judged"))
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), os.path.join(work, "hello"),
                    ignore=shutil.ignore_patterns("dist", "dist.tmp"))
    repo = f"{lab['SHIPWAY_REGISTRY']}/test/{random_name('judged')}"
    catalog = write_catalog(os.path.join(work, "catalog.yml"), "hello", repo, "hello")
    run = Shipway(lab, work)
    refs = {"repo": repo}
    for name, version, args in (("good1", "1.0.0", []), ("good2", "2.0.0", []),
                                ("bad", "5.0.0", ["FAIL_PERCENT=60"]),
                                ("late", "6.0.0", ["FAIL_PERCENT=100", "FAIL_AFTER=9"]),
                                ("broken", "7.0.0", ["BROKEN=1"]),
                                ("noroute", "8.0.0", ["BROKEN_ROUTE=1"])):
        env = {"VERSION": version}
        run("build", "--catalog", catalog, "--service", "hello", env=env, check=0)
        build_args = [a for arg in [f"VERSION={version}", *args] for a in ("--build-arg", arg)]
        run("image", "--catalog", catalog, "--service", "hello", "--tag", name, *build_args,
            env=env, check=0)
        pushed = run("push", "--catalog", catalog, "--service", "hello", "--tag", name, check=0)
        refs[name] = f"{repo}:{name}@{pushed.stdout.strip().split('@')[1]}"
    return refs


@pytest.fixture
def stack(docker_client, service_name):
    """The test's proxy routing the service, and a Prometheus scraping the proxy."""
    with SwarmProxy(docker_client, {service_name: True}) as proxy, \
            promsupport.PrometheusServer({"haproxy": f"127.0.0.1:{proxy.port}"}) as prom:
        prom.wait_for('up{job="haproxy"} == 1')
        yield proxy, prom


def catalogs(tmp_path, service, repo, prom_url, **options):
    """(plain catalog, catalog with analysis) for the service."""
    plain = write_catalog(str(tmp_path / "plain.yml"), service, repo, ".", networks=["proxy"])
    judged = write_catalog(str(tmp_path / "judged.yml"), service, repo, ".",
                           networks=["proxy"],
                           extra=analysis_block(prom_url, service, **options))
    return plain, judged


def deploy(shipway, catalog, service, image, check, env=None):
    proc = shipway("deploy", "--catalog", catalog, "--service", service, "--image", image,
                   "--json", env=env, check=check)
    return json.loads(proc.stdout), proc


def digest(ref):
    return ref.rsplit("@", 1)[1]


def under_load(proxy, service, fn):
    with Load(proxy.port, proxy.host(service), rate=30, threads=3, max_seconds=110) as load:
        value = fn()
    return value, load.result


def test_good_release_passes_after_bake(shipway, docker_client, judged_releases, service_name,
                                        stack, tmp_path):
    proxy, prom = stack
    plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"], prom.url)
    deploy(shipway, plain, service_name, judged_releases["good1"], 0)
    proxy.wait_routed(service_name)
    (record, proc), load = under_load(proxy, service_name, lambda: deploy(
        shipway, judged, service_name, judged_releases["good2"], 0))
    assert record["ok"], proc.stderr
    analysis = record["analysis"]
    phases = {e["phase"] for e in analysis["evaluations"]}
    assert phases == {"canary", "bake"}, analysis
    assert all(e["verdict"] == "pass" for e in analysis["evaluations"]), [
        (e["phase"], e["verdict"], e["reason"]) for e in analysis["evaluations"]]
    assert analysis["first_batch"] == 1
    assert running_digests(docker_client, service_name) == [
        digest(judged_releases["good2"])] * 2, proc.stderr
    # the spec keeps the user's own UpdateConfig, not the canary's long delay
    spec = docker_client.api.inspect_service(service_name)["Spec"]
    assert spec["UpdateConfig"]["Parallelism"] == 1
    assert not spec["UpdateConfig"].get("Delay")
    assert load.failed == 0, load.describe()


def test_bad_release_rolled_back_during_canary(shipway, docker_client, judged_releases,
                                               service_name, stack, tmp_path):
    proxy, prom = stack
    with promsupport.PushgatewayServer() as gateway:
        plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"], prom.url,
                                 canary="20s", pushgateway=gateway.url)
        deploy(shipway, plain, service_name, judged_releases["good1"], 0)
        proxy.wait_routed(service_name)
        (record, proc), load = under_load(proxy, service_name, lambda: deploy(
            shipway, judged, service_name, judged_releases["bad"], 1))
        markers = [line for line in gateway.metrics().splitlines()
                   if line.startswith("shipway_deploy_info{")]
    # One outcome, one marker: the automatic rollback's, carrying the failure.
    auto = [line for line in markers if 'result="auto-rollback"' in line]
    assert len(auto) == 1 and judged_releases["good1"] in auto[0], (markers, proc.stderr)
    assert 'reason="check error-rate: ' in auto[0], markers
    assert not [line for line in markers if 'result="failed"' in line], markers
    assert not record["ok"]
    error = proc.stderr.strip().splitlines()[-1]
    # the check, the value seen and the bound, the window, what runs now
    assert re.search(r"check error-rate: \d+(\.\d+)? is above max 0\.05 \(2 failed "
                     r"evaluations, canary\)", error), error
    assert "canary" in error and judged_releases["good1"] in error, proc.stderr + load.describe()
    failed = [e for e in record["analysis"]["evaluations"] if e["verdict"] == "fail"]
    assert len(failed) == 2 and all(e["phase"] == "canary" for e in failed), record["analysis"]
    assert record["analysis"]["rolled_back_to"]["image"] == judged_releases["good1"]
    assert running_digests(docker_client, service_name) == [digest(judged_releases["good1"])] * 2
    # only the canary's share of the traffic ever saw the bad release
    assert 0 < load.failed < load.sent * 0.5, load.describe()


def test_release_bad_after_rollout_rolled_back_during_bake(shipway, docker_client,
                                                           judged_releases, service_name,
                                                           stack, tmp_path):
    proxy, prom = stack
    plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"], prom.url,
                             canary="3s", bake="40s")
    deploy(shipway, plain, service_name, judged_releases["good1"], 0)
    proxy.wait_routed(service_name)
    (record, proc), _ = under_load(proxy, service_name, lambda: deploy(
        shipway, judged, service_name, judged_releases["late"], 1))
    error = proc.stderr.strip().splitlines()[-1]
    assert "check error-rate" in error and "bake" in error, error
    evaluations = record["analysis"]["evaluations"]
    assert all(e["verdict"] == "pass" for e in evaluations if e["phase"] == "canary")
    assert running_digests(docker_client, service_name) == [digest(judged_releases["good1"])] * 2


def test_unhealthy_first_batch_is_swarms_rollback_as_without_analysis(
        shipway, docker_client, judged_releases, service_name, stack, tmp_path):
    proxy, prom = stack
    plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"], prom.url)
    deploy(shipway, plain, service_name, judged_releases["good1"], 0)
    proxy.wait_routed(service_name)
    (record, proc), _ = under_load(proxy, service_name, lambda: deploy(
        shipway, judged, service_name, judged_releases["broken"], 1))
    error = proc.stderr.strip().splitlines()[-1]
    assert "swarm rolled the update back" in error and judged_releases["good1"] in error, \
        proc.stderr
    assert record["analysis"]["evaluations"] == []      # never got to the canary
    # swarm says rollback_completed as the last old task starts again: it may be a moment
    # before both containers run
    wait_for(lambda: running_digests(docker_client, service_name)
             == [digest(judged_releases["good1"])] * 2, 30, what="both tasks on good1")
    spec = docker_client.api.inspect_service(service_name)["Spec"]
    assert not spec["UpdateConfig"].get("Delay")        # swarm restored the spec before


def test_unreachable_prometheus_is_one_error_before_anything_changes(
        shipway, docker_client, judged_releases, service_name, tmp_path):
    from tests.support.proxy import free_port

    plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"],
                             f"http://127.0.0.1:{free_port()}")
    deploy(shipway, plain, service_name, judged_releases["good1"], 0)
    before = docker_client.api.inspect_service(service_name)["Version"]["Index"]
    proc = shipway("deploy", "--catalog", judged, "--service", service_name, "--image",
                   judged_releases["good2"], check=2)
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("error: analysis check error-rate: Prometheus at http://127.0.0.1:")
    assert "cannot be reached" in error and "nothing was changed" in error, error
    assert docker_client.api.inspect_service(service_name)["Version"]["Index"] == before


def test_prometheus_lost_during_the_canary_counts_as_failed(shipway, docker_client,
                                                            judged_releases, service_name,
                                                            stack, tmp_path):
    """Prometheus stops answering once the first batch runs: every evaluation fails (never a
    silent pass) and the release is rolled back."""
    import threading


    proxy, prom = stack
    plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"], prom.url,
                             canary="20s")
    deploy(shipway, plain, service_name, judged_releases["good1"], 0)
    proxy.wait_routed(service_name)

    def stop_prometheus_when_the_canary_runs():
        wait_for(lambda: running_digests(docker_client, service_name).count(
            digest(judged_releases["good2"])) == 1, timeout=60, poll=0.2, what="the canary")
        prom.stop()

    stopper = threading.Thread(target=stop_prometheus_when_the_canary_runs, daemon=True)
    stopper.start()
    (record, proc), _ = under_load(proxy, service_name, lambda: deploy(
        shipway, judged, service_name, judged_releases["good2"], 1))
    stopper.join(5)
    error = proc.stderr.strip().splitlines()[-1]
    assert "check error-rate" in error and "cannot be reached" in error, error
    failed = [e for e in record["analysis"]["evaluations"] if e["verdict"] == "fail"]
    assert len(failed) == 2, record["analysis"]
    assert running_digests(docker_client, service_name) == [
        digest(judged_releases["good1"])] * 2, proc.stderr


@pytest.mark.parametrize("query, words", [
    ("haproxy_backend_http_responses_total", ["series, not one", "aggregate it"]),
    # Prometheus answers 400 {"errorType": "bad_data", "error": "... parse error ..."}
    ("sum(rate(haproxy_backend_http_responses_total[3s]", ["bad_data", "parse error"]),
], ids=["several-series", "does-not-parse"])
def test_a_query_that_cannot_be_judged_is_refused_before_anything_changes(
        shipway, docker_client, judged_releases, service_name, stack, tmp_path, query, words):
    _, prom = stack
    plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"], prom.url,
                             query=query)
    deploy(shipway, plain, service_name, judged_releases["good1"], 0)
    before = docker_client.api.inspect_service(service_name)["Version"]["Index"]
    proc = shipway("deploy", "--catalog", judged, "--service", service_name, "--image",
                   judged_releases["good2"], check=2)
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("error: analysis check error-rate: ") and all(
        word in error for word in words) and "nothing was changed" in error, proc.stderr
    assert docker_client.api.inspect_service(service_name)["Version"]["Index"] == before
    assert running_digests(docker_client, service_name) == [digest(judged_releases["good1"])] * 2


@pytest.mark.parametrize("no_data,code", [("fail", 1), ("pass", 0), ("wait", 1)])
def test_no_traffic(shipway, docker_client, judged_releases, service_name, stack, tmp_path,
                    no_data, code):
    """No load: the error ratio is 0/0 (NaN), i.e. no data. fail rolls back, pass deploys,
    wait holds the window until the deploy timeout and then fails (and rolls back)."""
    _, prom = stack
    plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"], prom.url,
                             canary="2s", bake="2s", no_data=no_data)
    if no_data == "wait":   # a short deploy timeout bounds the wait
        path = tmp_path / "judged.yml"
        path.write_text(path.read_text().replace("timeout: 120s", "timeout: 10s"))
    deploy(shipway, plain, service_name, judged_releases["good1"], 0)
    record, proc = deploy(shipway, judged, service_name, judged_releases["good2"], code)
    verdicts = {e["verdict"] for e in record["analysis"]["evaluations"]}
    want = {"fail": {"fail"}, "pass": {"pass"}, "wait": {"wait", "fail"}}[no_data]
    assert verdicts == want, proc.stderr
    expected = judged_releases["good2"] if code == 0 else judged_releases["good1"]
    assert running_digests(docker_client, service_name) == [digest(expected)] * 2
    if code:
        assert "no data" in proc.stderr.strip().splitlines()[-1]


def test_deploy_markers_reach_the_pushgateway(shipway, docker_client, judged_releases,
                                              service_name, tmp_path):
    with promsupport.PushgatewayServer() as gateway:
        plain, _ = catalogs(tmp_path, service_name, judged_releases["repo"], "http://x")
        env = {"SHIPWAY_PUSHGATEWAY": gateway.url, "BUILD_NUMBER": "41"}
        deploy(shipway, plain, service_name, judged_releases["good1"], 0, env=env)
        env["BUILD_NUMBER"] = "42"
        deploy(shipway, plain, service_name, judged_releases["good2"], 0, env=env)
        shipway("rollback", "--catalog", plain, "--service", service_name, env=env, check=0)
        env["BUILD_NUMBER"] = "43"   # a deploy that ends in an error is marked failed too
        never = f"{judged_releases['repo']}:never-pushed"
        shipway("deploy", "--catalog", plain, "--service", service_name, "--image", never,
                env=env, check=1)
        text = gateway.metrics()
    lines = [line for line in text.splitlines() if line.startswith("shipway_deploy_info{")]
    deployed = [line for line in lines if 'result="deployed"' in line]
    rolled = [line for line in lines if 'result="rollback"' in line]
    assert len(deployed) == 1 and 'build="42"' in deployed[0], lines
    assert judged_releases["good2"] in deployed[0] and f'service="{service_name}"' in deployed[0]
    assert len(rolled) == 1 and judged_releases["good1"] in rolled[0], lines
    assert float(rolled[0].rsplit(" ", 1)[1]) > 1.7e9   # the time, in unix seconds
    failed = [line for line in lines if 'result="failed"' in line]
    assert len(failed) == 1 and 'build="43"' in failed[0] and never in failed[0], lines


def test_prometheus_and_pushgateway_behind_basic_auth(shipway, docker_client, judged_releases,
                                                      service_name, tmp_path):
    """A Prometheus and a Pushgateway that want a login (exporter-toolkit basic auth): given
    as Jenkins' credentials binding gives it (SHIPWAY_PROMETHEUS_USER/_PASSWORD in the
    environment), deploy judges and marks; without it, one error before anything changes.
    The password is in no output, no record, no spec and no release record."""
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd (apache2-utils) makes the bcrypt hash of the login")
    password = "pr0m-" + random_name("pw")
    login = ("ops", password)
    with promsupport.PrometheusServer({}, login=login) as prom, \
            promsupport.PushgatewayServer(login=login) as gateway:
        plain, judged = catalogs(tmp_path, service_name, judged_releases["repo"], prom.url,
                                 canary="1s", bake="1s", query="vector(0)",
                                 pushgateway=gateway.url)
        deploy(shipway, plain, service_name, judged_releases["good1"], 0)
        before = docker_client.api.inspect_service(service_name)["Version"]["Index"]

        refused = shipway("deploy", "--catalog", judged, "--service", service_name,
                          "--image", judged_releases["good2"], check=2)
        error = refused.stderr.strip().splitlines()[-1]
        assert "401" in error and "SHIPWAY_PROMETHEUS_USER" in error, refused.stderr
        assert docker_client.api.inspect_service(service_name)["Version"]["Index"] == before

        env = {"SHIPWAY_PROMETHEUS_USER": "ops", "SHIPWAY_PROMETHEUS_PASSWORD": password,
               "BUILD_NUMBER": "7"}
        record, proc = deploy(shipway, judged, service_name, judged_releases["good2"], 0,
                              env=env)
        assert record["ok"] and {e["verdict"] for e in record["analysis"]["evaluations"]} == {
            "pass"}, proc.stderr
        assert "deploy marker pushed: deployed" in proc.stderr, proc.stderr
        markers = [line for line in gateway.metrics().splitlines()
                   if line.startswith("shipway_deploy_info{")]
        assert len(markers) == 1 and judged_releases["good2"] in markers[0], markers
    assert running_digests(docker_client, service_name) == [digest(judged_releases["good2"])] * 2
    seen = [refused.stdout, refused.stderr, proc.stdout, proc.stderr,
            json.dumps(docker_client.api.inspect_service(service_name))]
    for config in docker_client.api.configs(
            filters={"label": f"shipway.release.service={service_name}"}):
        spec = docker_client.api.inspect_config(config["ID"])["Spec"]
        seen.append(json.dumps(spec) + base64.b64decode(spec["Data"]).decode())   # the record
    assert len(seen) >= 6   # both releases were recorded
    for text in seen:
        assert password not in text
        assert base64.b64encode(f"ops:{password}".encode()).decode() not in text


# --- verdicts: inconclusive (paused, continued, rolled back), dry run -----------------------
# These share one proxy routing each of their services and one Prometheus scraping it (a
# per-test bring-up costs more than the test), and one Pushgateway.
SHARED = ("paused", "back", "dry", "smoke")


@pytest.fixture(scope="module")
def shared(docker_client):
    """{"names": {role: service}, "proxy", "prom", "gateway"} for the tests below."""
    names = {role: random_name(f"an-{role}") for role in SHARED}
    with SwarmProxy(docker_client, {name: True for name in names.values()}) as proxy, \
            promsupport.PrometheusServer({"haproxy": f"127.0.0.1:{proxy.port}"}) as prom, \
            promsupport.PushgatewayServer() as gateway:
        prom.wait_for('up{job="haproxy"} == 1')
        try:
            yield {"names": names, "proxy": proxy, "prom": prom, "gateway": gateway}
        finally:
            for name in names.values():
                remove_service_and_releases(docker_client, name)


def judged_catalog(tmp_path, name, repo, prom_url, analysis_lines, checks):
    """A catalog for `name` with `analysis_lines` (the keys beside checks) and `checks`."""
    lines = ["      analysis:", f"        prometheus: {prom_url}",
             *[f"        {line}" for line in analysis_lines], "        checks:",
             *[f"          - {json.dumps(check)}" for check in checks]]
    return write_catalog(str(tmp_path / f"{name}.yml"), name, repo, ".", networks=["proxy"],
                         extra="\n".join(lines) + "\n")


def held_spec(docker_client, name):
    return docker_client.api.inspect_service(name)["Spec"]


PAUSE = ["interval: 1s", "canary: 3s", "bake: 3s", "failure_limit: 2", "no_data: inconclusive",
         "inconclusive_limit: 2", "on_inconclusive: pause", "pause_timeout: 10m"]


def pause_without_traffic(shipway, docker_client, judged_releases, shared, role, tmp_path):
    """Deploy good1, then good2 judged with no traffic at all: the canary's error ratio has
    no data, which is inconclusive, twice: the update pauses (exit 3), swarm keeps the canary.
    (catalog, the paused deploy's process)."""
    name, proxy = shared["names"][role], shared["proxy"]
    repo = judged_releases["repo"]
    plain = write_catalog(str(tmp_path / "plain.yml"), name, repo, ".", networks=["proxy"])
    judged = judged_catalog(tmp_path, name, repo, shared["prom"].url,
                            PAUSE + [f"pushgateway: {shared['gateway'].url}"],
                            [{"name": "error-rate", "query": error_ratio(name), "max": 0.05}])
    deploy(shipway, plain, name, judged_releases["good1"], 0)
    proxy.wait_routed(name)
    record, proc = deploy(shipway, judged, name, judged_releases["good2"], 3)
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"paused: update of {name} to {judged_releases['good2']} paused in "
                           "the canary window: analysis inconclusive: check error-rate: no data "
                           "(no_data: inconclusive) (2 inconclusive evaluations, canary); 1/2 "
                           "tasks run the new release; `shipway continue --catalog "), line
    assert f"--service {name}` goes on, `shipway rollback --catalog " in line, line
    assert not record["ok"] and record["release"] is None, record
    assert {e["verdict"] for e in record["analysis"]["evaluations"]} == {"inconclusive"}
    # the update stays where it is: one task on each release, swarm holding the rest
    assert sorted(running_digests(docker_client, name)) == sorted(
        [digest(judged_releases["good1"]), digest(judged_releases["good2"])])
    spec = held_spec(docker_client, name)
    assert spec["UpdateConfig"]["Delay"] > 600 * 10 ** 9 and "shipway.held-update-config" in \
        spec["Labels"]
    markers = [m for m in shared["gateway"].metrics().splitlines()
               if m.startswith("shipway_deploy_info{") and f'service="{name}"' in m]
    assert [m for m in markers if 'result="paused"' in m and "inconclusive" in m], markers
    assert not [m for m in markers if 'result="failed"' in m], markers
    return judged, proc


def test_an_inconclusive_canary_paused_then_continued(shipway, docker_client, judged_releases,
                                                      shared, tmp_path):
    name, proxy = shared["names"]["paused"], shared["proxy"]
    judged, _ = pause_without_traffic(shipway, docker_client, judged_releases, shared,
                                      "paused", tmp_path)
    # traffic comes; someone answers "continue": the rest, then a bake with data
    with Load(proxy.port, proxy.host(name), rate=30, threads=3, max_seconds=110) as load:
        proc = shipway("continue", "--catalog", judged, "--service", name, "--json",
                       env={"SHIPWAY_APPROVED_BY": "ops"}, check=0)
    record = json.loads(proc.stdout)
    assert record["ok"] and record["approved_by"] == "ops", proc.stderr
    bake = [e for e in record["analysis"]["evaluations"] if e["phase"] == "bake"]
    assert bake and {e["verdict"] for e in bake} == {"pass"}, record["analysis"]
    assert running_digests(docker_client, name) == [digest(judged_releases["good2"])] * 2
    spec = held_spec(docker_client, name)
    assert not spec["UpdateConfig"].get("Delay") and "shipway.held-update-config" not in \
        spec["Labels"]
    newest = shipway.json("releases", "--catalog", judged, "--service", name)[0]
    assert newest["image"] == judged_releases["good2"] and newest["approved_by"] == "ops"
    assert load.result.failed == 0, load.result.describe()
    # nothing is paused any more: a second press changes nothing
    again = shipway("continue", "--catalog", judged, "--service", name, check=1)
    assert "no update is paused" in again.stderr.strip().splitlines()[-1]


def test_an_inconclusive_canary_paused_then_rolled_back(shipway, docker_client,
                                                        judged_releases, shared, tmp_path):
    name = shared["names"]["back"]
    judged, _ = pause_without_traffic(shipway, docker_client, judged_releases, shared, "back",
                                      tmp_path)
    proc = shipway("rollback", "--catalog", judged, "--service", name, check=0)
    assert f"rolled back from {judged_releases['good2']} to {judged_releases['good1']}" in \
        proc.stdout, proc.stderr
    assert running_digests(docker_client, name) == [digest(judged_releases["good1"])] * 2
    spec = held_spec(docker_client, name)
    assert "shipway.held-update-config" not in spec["Labels"]
    assert not spec["UpdateConfig"].get("Delay")
    history = shipway.json("releases", "--catalog", judged, "--service", name)
    assert [r["image"] for r in history] == [judged_releases["good1"]]   # good2 never was one


def test_a_dry_run_check_that_fails_decides_nothing(shipway, docker_client, judged_releases,
                                                   shared, tmp_path):
    name, proxy, gateway = shared["names"]["dry"], shared["proxy"], shared["gateway"]
    repo = judged_releases["repo"]
    plain = write_catalog(str(tmp_path / "plain.yml"), name, repo, ".", networks=["proxy"])
    judged = judged_catalog(
        tmp_path, name, repo, shared["prom"].url,
        ["interval: 1s", "canary: 3s", "bake: 3s", "failure_limit: 1",
         f"pushgateway: {gateway.url}"],
        [{"name": "error-rate", "query": error_ratio(name), "max": 0.05},
         {"name": "always-over", "query": "vector(1)", "max": 0.5, "dry_run": True},
         {"name": "broken-query", "query": "sum(rate(nope[3s]", "max": 1, "dry_run": True}])
    deploy(shipway, plain, name, judged_releases["good1"], 0)
    proxy.wait_routed(name)
    (record, proc), _ = under_load(proxy, name, lambda: deploy(
        shipway, judged, name, judged_releases["good2"], 0))
    assert record["ok"], proc.stderr
    dry = [e for e in record["analysis"]["evaluations"] if e["check"] == "always-over"]
    assert dry and all(e["verdict"] == "fail" and e["dry_run"] for e in dry), dry
    assert {e["phase"] for e in dry} == {"canary", "bake"}
    assert "analysis: check broken-query: " in proc.stderr and \
        "(a dry-run check: the deploy goes on)" in proc.stderr, proc.stderr
    assert "always-over fail: 1 is above max 0.5 (dry run: never decides)" in proc.stderr
    findings = record["analysis"]["dry_run_findings"]
    assert findings[0] == f"always-over: {len(dry)} of {len(dry)} evaluations failed", findings
    assert running_digests(docker_client, name) == [digest(judged_releases["good2"])] * 2
    [marker] = [m for m in gateway.metrics().splitlines()
                if m.startswith("shipway_deploy_info{") and f'service="{name}"' in m]
    assert 'result="deployed"' in marker and 'dry_run="always-over: ' in marker, marker


def test_an_http_check_catches_a_broken_route_the_traffic_never_hits(
        shipway, docker_client, judged_releases, shared, tmp_path):
    """The load asks / only: the error ratio passes the release whose /api/orders/ answers
    500; the smoke check, sent to the canary's task through the probe, rolls it back. A good
    release passes both, every task asked; no probe is left behind."""
    name, proxy = shared["names"]["smoke"], shared["proxy"]
    repo = judged_releases["repo"]
    plain = write_catalog(str(tmp_path / "plain.yml"), name, repo, ".", networks=["proxy"])
    judged = judged_catalog(
        tmp_path, name, repo, shared["prom"].url,
        ["interval: 1s", "canary: 4s", "bake: 2s", "failure_limit: 2"],
        [{"name": "error-rate", "query": error_ratio(name), "max": 0.05},
         {"name": "smoke", "http": {"path": "/api/orders/", "port": 8080, "requests": 2,
                                    "body_contains": "orders"}}])
    deploy(shipway, plain, name, judged_releases["good1"], 0)
    proxy.wait_routed(name)
    (record, proc), _ = under_load(proxy, name, lambda: deploy(
        shipway, judged, name, judged_releases["noroute"], 1))
    error = proc.stderr.strip().splitlines()[-1]
    assert re.search(r"check smoke: 2 of 2 requests to 1 task failed \(task \d at "
                     r"[0-9.]+: HTTP 500, expected 200\) \(2 failed evaluations, canary\)",
                     error), proc.stderr
    promql = [e for e in record["analysis"]["evaluations"] if e["check"] == "error-rate"]
    assert promql and {e["verdict"] for e in promql} == {"pass"}, record["analysis"]
    assert running_digests(docker_client, name) == [digest(judged_releases["good1"])] * 2
    (record, proc), _ = under_load(proxy, name, lambda: deploy(
        shipway, judged, name, judged_releases["good2"], 0))
    bake = [e for e in record["analysis"]["evaluations"]
            if e["check"] == "smoke" and e["phase"] == "bake"]
    assert bake and all(e["verdict"] == "pass" and e["reason"] == "4 requests to 2 tasks: all "
                        "answered 200 with 'orders'" for e in bake), record["analysis"]
    assert not docker_client.api.services(filters={"label": f"shipway.probe.service={name}"})
