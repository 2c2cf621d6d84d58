"""`shipway status --environment all` on the real labs: a catalog with three environments,
`staging` (the one-node lab's engine), `production` (a manager of the multi-node lab) and
`down` (a TCP port on 127.0.0.1 nobody listens on). A tiny FROM-scratch service is deployed to
staging and production with `shipway deploy --environment ...`, each from its own registry;
then one row per environment, in the catalog's order, with the digest each runs, and `down`
a row saying it is unreachable: exit 1, the others' rows intact.

Also measured (printed, not asserted): the three asked at once against one after the other.
Cost: about 30 s (two deploys, one of them on the multi-node lab).
"""
import io
import json
import os
import socket
import time

import docker
import pytest

from pipeline import cli
from pipeline.console import Console
from tests.integration.conftest import (
    TEST_TIMEOUT,
    Shipway,
    random_name,
    remove_service_and_releases,
)
from tests.support.busybox import build_sleeper
from tests.support.multinode import MultiLab, unsupported_reason

pytestmark = [pytest.mark.integration, pytest.mark.multinode]

LOCAL_ENGINE = "unix:///var/run/docker.sock"   # lab/env sets no DOCKER_HOST: the default one


@pytest.fixture(scope="module")
def mlab():
    """The multi-node lab as it is (this test kills nothing, so nothing to restore)."""
    if unsupported_reason():
        pytest.skip(f"this machine cannot run the multi-node lab: {unsupported_reason()}")
    problem, lab = None, None
    try:
        lab = MultiLab()
    except FileNotFoundError:
        problem = "the multi-node lab is not up: run lab/up --nodes 3+1"
    if lab is not None and not any(lab.up(node) for node in lab.managers):
        problem = "no manager of the multi-node lab answers: run lab/up --nodes 3+1"
    if problem:
        if os.environ.get("SHIPWAY_REQUIRE_LAB") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    yield lab
    lab.close()


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def catalog_text(name, staging_repo, production, down_host):
    """production: (docker_host, registry) of the multi-node lab."""
    return f"""
environments:
  staging: {{docker_host: "{os.environ.get('DOCKER_HOST') or LOCAL_ENGINE}"}}
  production: {{docker_host: "{production[0]}", registry: "{production[1]}"}}
  down: {{docker_host: "{down_host}"}}
services:
  {name}:
    image: {staging_repo}
    stop_grace_period: 1s
    deploy:
      replicas: 1
      timeout: {TEST_TIMEOUT}
      labels: {{shipway.test: "true"}}
      update_config: {{parallelism: 1, delay: 0s, order: start-first, monitor: 1s}}
    environments:
      staging: {{name: {name}-staging}}
      production: {{deploy: {{replicas: 2}}}}
"""  # noqa: E501 (one flow map a line, as users write it)


@pytest.fixture
def setup(lab, docker_client, mlab, tmp_path):
    """The catalog, and shipway with both labs' registry logins (each environment its own);
    the services removed afterwards."""
    name = random_name("envs")
    down_host = f"tcp://127.0.0.1:{free_port()}"
    repos = {"staging": f"{lab['SHIPWAY_REGISTRY']}/test/{name}",
             "production": f"{mlab.env['SHIPWAY_REGISTRY']}/test/{name}"}
    catalog = tmp_path / "shipway.yml"
    # A manager that answers now (another test may have stopped one for its own faults).
    node = next(node for node in mlab.managers if mlab.up(node))
    catalog.write_text(catalog_text(name, repos["staging"],
                                    (mlab.socket(node), mlab.env["SHIPWAY_REGISTRY"]), down_host))
    run = Shipway(lab, str(tmp_path))
    run.env.update({
        "SHIPWAY_REGISTRY_USER_PRODUCTION": mlab.env["SHIPWAY_REGISTRY_USER"],
        "SHIPWAY_REGISTRY_PASSWORD_FILE_PRODUCTION": mlab.env["SHIPWAY_REGISTRY_PASSWORD_FILE"],
        "SHIPWAY_ACTOR": "tester", "BUILD_NUMBER": "42", "GIT_COMMIT": "abc1234" + "d" * 33})
    yield {"name": name, "catalog": str(catalog), "run": run, "down": down_host,
           "repos": repos, "node": node}
    remove_services(name, docker_client, mlab)


def remove_services(name, docker_client, mlab):
    """The service in both labs, and its release records (nothing there: nothing done)."""
    remove_service_and_releases(docker_client, f"{name}-staging")
    remove_service_and_releases(mlab.manager(), name)


@pytest.fixture
def pushed(setup, docker_client, mlab):
    """The sleeper image as `:1` in each lab's registry, pushed by `shipway push`: the
    digest per environment; the local images removed afterwards."""
    repos = setup["repos"]
    try:
        build_sleeper(docker_client, f"{repos['staging']}:1")
        build_sleeper(mlab.client(setup["node"]), f"{repos['production']}:1")
        # push has no --environment: the multi-node lab's engine and login, given plainly
        production = {"DOCKER_HOST": mlab.socket(setup["node"]),
                      "SHIPWAY_REGISTRY_USER": mlab.env["SHIPWAY_REGISTRY_USER"],
                      "SHIPWAY_REGISTRY_PASSWORD_FILE": mlab.env["SHIPWAY_REGISTRY_PASSWORD_FILE"]}
        yield {"staging": push(setup["run"], repos["staging"], {}),
               "production": push(setup["run"], repos["production"], production)}
    finally:
        # The services first (this fixture's teardown runs before setup's): a node keeps an
        # image its containers still use.
        remove_services(setup["name"], docker_client, mlab)
        try:
            docker_client.api.remove_image(f"{repos['staging']}:1", force=True)
        except docker.errors.NotFound:
            pass
        mlab.remove_images(repos["production"])


def push(run, repo, env):
    """`shipway push` of the image tagged `:1`; its digest."""
    pushed = run("push", "--service", "sleeper", "--image", repo, "--tag", "1", env=env,
                 check=0)
    return pushed.stdout.strip().rsplit("@", 1)[1]


def status_all(setup, *extra, env=None):
    return setup["run"]("status", "--catalog", setup["catalog"], "--service", setup["name"],
                        *extra, env=env)


def test_every_environment_in_one_table_and_the_unreachable_one_says_so(setup, pushed):
    run, name = setup["run"], setup["name"]
    for environment in ("staging", "production"):
        run("deploy", "--catalog", setup["catalog"], "--service", name, "--environment",
            environment, "--image", f"{setup['repos'][environment]}:1", check=0)

    proc = status_all(setup, "--environment", "all", "--json")
    assert proc.returncode == 1, proc.stderr
    rows = json.loads(proc.stdout)
    assert [row["environment"] for row in rows] == ["staging", "production", "down"]
    staging, production, down = rows
    assert staging["ok"] and production["ok"] and not down["ok"]
    assert staging["service"] == f"{name}-staging" and production["service"] == name
    for row in (staging, production):
        env = row["environment"]
        assert row["digest"] == pushed[env]
        assert row["release"]["seq"] == 1 and row["release"]["deployed_by"] == "tester"
        assert row["release"]["build_number"] == "42"
    assert staging["replicas"]["running"] == staging["replicas"]["desired"] == 1
    assert production["replicas"]["running"] == production["replicas"]["desired"] == 2
    assert down["answered"] is False
    assert down["error"].startswith(f"cannot reach the Docker Engine at {setup['down']}")

    # The same as text, asked through SHIPWAY_ENVIRONMENT: an aligned table.
    proc = status_all(setup, env={"SHIPWAY_ENVIRONMENT": "all"})
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["ENVIRONMENT", "RELEASE", "IMAGE", "DIGEST", "COMMIT", "BUILD",
                                "DEPLOYED", "BY", "REPLICAS", "UPDATE"]
    column = lines[0].index("DIGEST")
    for line, env in zip(lines[1:3], ("staging", "production")):
        assert line.startswith(env)
        assert line[column:].startswith("sha256:" + pushed[env][7:19])
        assert "#1" in line and "abc1234" in line and "tester" in line
    assert lines[3].startswith("down ")
    assert f"unreachable: cannot reach the Docker Engine at {setup['down']}" in lines[3]
    assert "1 of 3 environments did not answer: down" in proc.stderr
    print("\n" + proc.stdout)

    measure_parallel(setup)


def measure_parallel(setup):
    """Print (not assert) the three asked at once against each asked on its own in turn,
    in this process (no interpreter start in either figure)."""
    environ = dict(setup["run"].env)
    args = ["--catalog", setup["catalog"], "--service", setup["name"], "--json"]

    def timed(*extra):
        started = time.monotonic()
        code = cli.main(["status", *args, *extra], environ=environ,
                        console=Console(io.StringIO(), io.StringIO()))
        return code, time.monotonic() - started

    timed("--environment", "all")   # warm: imports, first connections
    code, together = timed("--environment", "all")
    apart = {env: timed("--environment", env) for env in ("staging", "production", "down")}
    assert code == 1 and apart["down"][0] == 2 and apart["staging"][0] == 0
    total = sum(seconds for _, seconds in apart.values())
    print(f"status --environment all: {together:.3f} s; one by one: "
          + ", ".join(f"{env} {seconds:.3f} s" for env, (_, seconds) in apart.items())
          + f" = {total:.3f} s ({together / total:.2f} of the sum)")


def test_when_every_environment_answers_the_exit_is_0(setup, tmp_path):
    # The same catalog without `down`: the service deployed nowhere is an answer.
    text = open(setup["catalog"], encoding="utf-8").read()
    text = text.replace(f'  down: {{docker_host: "{setup["down"]}"}}\n', "")
    catalog = tmp_path / "two.yml"
    catalog.write_text(text)
    proc = setup["run"]("status", "--catalog", str(catalog), "--service", setup["name"],
                        "--environment", "all")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split()[:3] == ["staging", "not", "deployed"]
    assert lines[2].split()[:3] == ["production", "not", "deployed"]
