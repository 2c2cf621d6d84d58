"""Group releases on the real engine: steps in order, a failing wave undoes the earlier
steps, `rollback --group` twice, two groups sharing a service at once."""
import subprocess
import sys

import pytest

from tests.integration.conftest import (
    TEST_TIMEOUT,
    member_entries,
    random_name,
    remove_service_and_releases,
    running_digests,
)
from tests.integration.test_job_service import job_images  # noqa: F401, F811 (a fixture)

pytestmark = pytest.mark.integration


def digest(ref):
    return ref.rsplit("@", 1)[1]


@pytest.fixture
def shop(docker_client, releases, tmp_path):
    """A catalog of three services a, b, c and groups: shop = [a, [b, c]], and two groups
    sharing b (left = [a, b], right = [c, b])."""
    prefix = random_name("g")
    names = {m: f"{prefix}-{m}" for m in "abc"}
    entries = member_entries(names, releases["repo"], """\
      update_config: {parallelism: 1, delay: 0s, order: start-first, failure_action: rollback, monitor: 1s}
      rollback_config: {parallelism: 1, delay: 0s, order: start-first, failure_action: pause, monitor: 1s}
""")  # noqa: E501 (written as users write it)
    path = tmp_path / "shipway.yml"
    path.write_text(f"""
services:{entries}
groups:
  {prefix}-shop:
    steps: [{names['a']}, [{names['b']}, {names['c']}]]
  {prefix}-left:
    steps: [{names['a']}, {names['b']}]
  {prefix}-right:
    steps: [{names['c']}, {names['b']}]
""")
    yield str(path), names, prefix
    for name in names.values():
        remove_service_and_releases(docker_client, name)
    for group in ("shop", "left", "right"):
        for config in docker_client.api.configs(
                filters={"label": f"shipway.group.name={prefix}-{group}"}):
            docker_client.api.remove_config(config["ID"])


def images(names, releases, members="abc", **which):
    return [arg for m in members
            for arg in ("--image", f"{names[m]}={releases[which.get(m, 'v1')]}")]


def runs(docker_client, names, releases, **which):
    return {m: running_digests(docker_client, names[m]) for m in "abc"} == {
        m: [digest(releases[which[m]])] for m in "abc"}


def test_a_failing_wave_rolls_back_the_group_and_rollback_group_goes_back_twice(
        shipway, shop, releases, docker_client):
    catalog, names, prefix = shop
    group = ("--catalog", catalog, "--group", f"{prefix}-shop")
    first = shipway.json("deploy", *group, *images(names, releases))
    assert first["ok"] and first["group_release"] == 1
    second = shipway.json("deploy", *group, *images(names, releases, a="v2", b="v2", c="v2"))
    assert second["group_release"] == 2
    assert runs(docker_client, names, releases, a="v2", b="v2", c="v2")

    failed = shipway("deploy", *group, *images(names, releases, a="v3", b="v3", c="broken"),
                     check=1)
    assert f"group {prefix}-shop failed at step 2" in failed.stderr
    assert f"{names['c']}: update of {names['c']}" in failed.stderr
    # every member back on what it ran before the group release
    assert runs(docker_client, names, releases, a="v2", b="v2", c="v2")
    listed = shipway.json("releases", *group)
    assert [(r["seq"], r["running"]) for r in listed] == [(2, True), (1, False)]

    back = shipway.json("rollback", *group)
    assert back["ok"] and back["to"] == 1
    assert runs(docker_client, names, releases, a="v1", b="v1", c="v1")
    assert shipway.json("status", *group)["group_release"] == 1
    again = shipway("rollback", *group, check=1)
    assert "group release #1 runs and none is older" in again.stderr


def test_two_groups_sharing_a_service_at_once_do_not_deadlock(shipway, shop, releases,
                                                             docker_client):
    catalog, names, prefix = shop
    procs = [subprocess.Popen(
        [sys.executable, "-m", "pipeline", "deploy", "--catalog", catalog,
         "--group", f"{prefix}-{group}", *images(names, releases, members)],
        cwd=shipway.workdir, env=shipway.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for group, members in (("left", "ab"), ("right", "cb"))]
    outs = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    assert runs(docker_client, names, releases, a="v1", b="v1", c="v1")


@pytest.fixture
def with_jobs(docker_client, releases, job_images, tmp_path):  # noqa: F811
    """Groups whose first step is a migration job: `good` (exits 0) and `bad` (exits 3),
    then a wave of two services; the job containers are removed afterwards."""
    prefix = random_name("gj")
    names = {m: f"{prefix}-{m}" for m in ("ok", "bad", "b", "c")}
    services = "".join(f"""
  {names[m]}:
    image: {job_images['repo']}
    environment: {{EXIT_CODE: "{code}", LINES: "2"}}
    deploy: {{mode: replicated-job, timeout: 60s, restart_policy: {{condition: none}}}}
""" for m, code in (("ok", 0), ("bad", 3))) + "".join(f"""
  {names[m]}:
    image: {releases['repo']}
    stop_grace_period: 1s
    deploy: {{replicas: 1, timeout: {TEST_TIMEOUT}, labels: {{shipway.test: "true"}}, update_config: {{parallelism: 1, delay: 0s, order: start-first, failure_action: rollback, monitor: 1s}}}}
""" for m in "bc")  # noqa: E501 (written as users write it)
    path = tmp_path / "shipway.yml"
    path.write_text(f"""
services:{services}
groups:
  {prefix}-good: {{steps: [{names['ok']}, [{names['b']}, {names['c']}]]}}
  {prefix}-bad: {{steps: [{{job: {names['bad']}}}, [{names['b']}, {names['c']}]]}}
""")
    yield str(path), names, prefix
    for name in names.values():
        remove_service_and_releases(docker_client, name)
        for container in docker_client.api.containers(
                all=True, filters={"label": f"com.docker.swarm.service.name={name}"}):
            docker_client.api.remove_container(container["Id"], force=True)
    for group in ("good", "bad"):
        for config in docker_client.api.configs(
                filters={"label": f"shipway.group.name={prefix}-{group}"}):
            docker_client.api.remove_config(config["ID"])


def test_a_failing_migration_job_stops_the_group_before_anything_after_it(
        shipway, with_jobs, releases, job_images, docker_client):  # noqa: F811
    catalog, names, prefix = with_jobs

    def images(job, version):
        return ["--image", f"{names[job]}={job_images['v1']}",
                *[arg for m in "bc" for arg in ("--image", f"{names[m]}={releases[version]}")]]

    good = shipway("deploy", "--catalog", catalog, "--group", f"{prefix}-good",
                   *images("ok", "v1"), check=0)
    assert "| line 1" in good.stdout + good.stderr      # the job's output, streamed
    assert [digest(releases["v1"])] == running_digests(docker_client, names["b"])
    bad = shipway("deploy", "--catalog", catalog, "--group", f"{prefix}-bad",
                  *images("bad", "v2"), check=1)
    assert f"group {prefix}-bad failed at step 1 ({names['bad']})" in bad.stderr
    assert "exit code 3" in bad.stderr
    # nothing of the later step changed
    for member in "bc":
        assert running_digests(docker_client, names[member]) == [digest(releases["v1"])]


def test_a_group_that_creates_a_broken_service_fails_and_removes_it(
        shipway, shop, releases, docker_client):
    catalog, names, prefix = shop
    failed = shipway("deploy", "--catalog", catalog, "--group", f"{prefix}-left",
                     "--image", f"{names['a']}={releases['v1']}",
                     "--image", f"{names['b']}={releases['broken']}", check=1)
    assert f"group {prefix}-left failed at step 2 ({names['b']})" in failed.stderr
    # both were created by this group release: both removed again
    assert not [s for s in docker_client.api.services()
                if s["Spec"]["Name"] in (names["a"], names["b"])]
