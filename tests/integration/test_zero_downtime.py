"""Zero downtime, measured: a steady request load through HAProxy at the example service
(2 replicas) during a deploy, a failed deploy (automatic rollback) and a rollback: no request
fails. The control, stop-first with no health check, does drop requests, so the measurement
can fail.

The lab's proxy routes fixed names only, so each test runs its own HAProxy (the lab's image and
config template, tests/support/proxy.py) routing its random service. Load: 4 threads, 40
requests/s in all, a new connection per request, to 127.0.0.1 only (tests/support/load.py),
from 1 s before the operation to 1 s after it.
"""
import pytest

from tests.integration.conftest import write_catalog
from tests.support.load import measure
from tests.support.proxy import SwarmProxy, create_plain_service, update_image

pytestmark = pytest.mark.integration

LOAD = {"threads": 4, "rate": 40.0, "timeout": 5.0, "max_seconds": 90.0, "max_requests": 4000}
V1, V2, BROKEN = "1.0.0", "2.0.0", "4.0.0"      # what / says in the releases fixture's images
FIGURES = {}


def report(name, result):
    FIGURES[name] = result.summary()
    print(f"\nzero-downtime {name}: {result.describe()}")


def test_deploy_failed_deploy_and_rollback_drop_no_request(shipway, service_name, releases,
                                                           docker_client, tmp_path):
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".",
                            replicas=2, networks=["proxy"])
    args = ("--catalog", catalog, "--service", service_name)

    def deploy(name, build):
        return shipway("deploy", *args, "--image", releases[name],
                       env={"BUILD_NUMBER": build, "GIT_COMMIT": f"{build:0>7}" + "d" * 33})

    with SwarmProxy(docker_client, {service_name: True}) as proxy:
        host = proxy.host(service_name)
        first = deploy("v1", "1")
        assert first.returncode == 0, first.stderr
        proxy.wait_routed(service_name, lambda version: version == V1, timeout=30)

        # 1. a deploy, v1 -> v2: every request answered, first by v1, then by v2
        proc, load = measure(proxy.port, host, lambda: deploy("v2", "2"), **LOAD)
        report("deploy", load)
        assert proc.returncode == 0, proc.stderr
        assert load.failed == 0, load.describe()
        assert load.version_order == [V1, V2], load.describe()
        assert {s.version for s in load.after(load.operation[1])} == {V2}, load.describe()

        # 2. a deploy of the broken release: swarm rolls it back; the broken task never
        #    becomes healthy, so it never gets a request
        proc, load = measure(proxy.port, host, lambda: deploy("broken", "3"), **LOAD)
        report("failed deploy", load)
        assert proc.returncode == 1 and "rolled the update back" in proc.stderr, proc.stderr
        assert load.failed == 0, load.describe()
        assert load.versions.keys() == {V2}, load.describe()

        # 3. shipway rollback: back to v1, every request answered
        proc, load = measure(proxy.port, host, lambda: shipway("rollback", *args), **LOAD)
        report("rollback", load)
        assert proc.returncode == 0, proc.stderr
        assert load.failed == 0, load.describe()
        assert load.version_order == [V2, V1], load.describe()
        assert {s.version for s in load.after(load.operation[1])} == {V1}, load.describe()


def test_control_stop_first_without_health_checks_drops_requests(service_name, releases,
                                                                 docker_client):
    """The same measurement, with what makes the deploy safe taken away: stop-first, no health
    check in the service (the image's HEALTHCHECK switched off) nor in HAProxy, one replica.
    Requests fail, so a 0 above is a measurement, not a blind spot."""
    with SwarmProxy(docker_client, {service_name: False}) as proxy:
        create_plain_service(docker_client, service_name, releases["v1"], replicas=1,
                             order="stop-first", labels={"shipway.test": "true"})
        proxy.wait_routed(service_name, lambda version: version == V1, timeout=30)

        _, load = measure(proxy.port, proxy.host(service_name),
                          lambda: update_image(docker_client, service_name, releases["v2"]),
                          **LOAD)
        report("control (stop-first, no health check)", load)
        assert load.failed > 0, load.describe()
        assert load.version_order == [V1, V2], load.describe()
