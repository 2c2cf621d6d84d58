"""Notifications on the real engine, to a real HTTP receiver on loopback
(tests/support/webhooks.py): every service here notifies two webhooks, one `json` whose URL
is in the catalog and one `slack` whose URL comes from a variable, so each event is checked
in both formats. A good deploy, an automatic rollback of a broken release, a rollback by
hand, a held lock, a promotion with the approval before it, a group that fails and a
group rolled back by hand, a group waiting for an approval (`notify --group` after its
deploy to the environment before); webhooks that are down or answer 500 never fail a
deploy. No webhook URL in any output, state file, service spec or release record."""
import contextlib
import os
import threading
import time

import docker
import pytest

from pipeline.swarm import lock
from tests.integration.conftest import (
    TEST_TIMEOUT,
    random_name,
    remove_service_and_releases,
    write_catalog,
)
from tests.support.webhooks import Receiver, closed_port

pytestmark = pytest.mark.integration

BUILD = {"GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567", "BUILD_NUMBER": "42",
         "BUILD_URL": "https://jenkins.example/job/hello/42/", "JOB_NAME": "hello",
         "SHIPWAY_ACTOR": "alice"}
POLICY = ("      update_config: {parallelism: 1, delay: 0s, order: start-first, "
          "failure_action: rollback, monitor: 2s}\n")


@pytest.fixture
def hooks():
    with Receiver() as receiver:
        yield receiver


def notify_block(hooks, json_url=None, slack="SHIPWAY_TEST_SLACK"):
    """Top-level notify: webhook 1 json (URL in the catalog), webhook 2 slack (from $slack)."""
    return (f"notify:\n  - {{webhook: \"{json_url or hooks.url('json')}\"}}\n"
            f"  - {{webhook_env: {slack}, format: slack}}\n")


def with_notify(path, hooks, **kw):
    """The conftest catalog at `path` with notify_block() on top."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(notify_block(hooks, **kw) + text)
    return path


def env_for(hooks, **more):
    return {**BUILD, "SHIPWAY_TEST_SLACK": hooks.url("slack"), **more}


def assert_no_url_anywhere(hooks, procs, workdir, client, services, skip=()):
    """Neither webhook's token in what shipway printed, wrote to its workspace (the catalog
    holding the json URL aside), the services' specs or their release records."""
    texts = [p.stdout + p.stderr for p in procs]
    for root, _, files in os.walk(workdir):
        for name in files:
            path = os.path.join(root, name)
            if path not in skip:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    texts.append(handle.read())
    for service in services:
        with contextlib.suppress(docker.errors.NotFound):
            texts.append(str(client.api.inspect_service(service)))
        for config in client.api.configs(filters={"label": f"shipway.release.service={service}"}):
            texts.append(str(client.api.inspect_config(config["ID"])))
    for token in hooks.tokens():
        for text in texts:
            assert token not in text


def assert_slack(message, color, *words):
    """A Slack-compatible message: text, one attachment with that colour, fields."""
    assert set(message) == {"text", "attachments"}
    (attachment,) = message["attachments"]
    assert attachment["color"] == color and attachment["fallback"] == message["text"]
    assert attachment["title_link"] == BUILD["BUILD_URL"]
    for word in words:
        assert word in message["text"], (word, message["text"])


@pytest.fixture
def svc(shipway, releases, service_name, tmp_path, hooks):
    catalog = with_notify(write_catalog(str(tmp_path / "catalog.yml"), service_name,
                                        releases["repo"], str(tmp_path)), hooks)
    base = ("--catalog", catalog, "--service", service_name)

    def run(verb, *args, check=0, **env):
        return shipway(verb, *base, *args, env=env_for(hooks, **env), check=check)
    return run, catalog


def test_a_good_deploy_and_a_rollback_by_hand_in_both_formats(
        svc, hooks, releases, service_name, shipway, docker_client):
    run, catalog = svc
    procs = [run("deploy", "--image", releases["v1"]), run("deploy", "--image", releases["v2"]),
             run("rollback", "--reason", "500s on /login", SHIPWAY_APPROVED_BY="carol")]
    assert hooks.events("json") == ["started", "deployed", "started", "deployed", "rollback"]
    started, deployed = hooks.bodies("json")[2:4]
    assert (started["image"], started["release"]) == (releases["v2"], "")
    assert deployed["image"] == releases["v2"] and deployed["release"] == "#2"
    assert deployed["digest"] == releases["v2"].rsplit("@", 1)[1]
    assert (deployed["service"], deployed["environment"], deployed["action"]) == (
        service_name, "", "updated")
    assert (deployed["commit"], deployed["build_number"], deployed["build_url"],
            deployed["job"], deployed["by"]) == (
        BUILD["GIT_COMMIT"], "42", BUILD["BUILD_URL"], "hello", "alice")
    back = hooks.bodies("json")[4]
    assert (back["image"], back["release"], back["by"], back["reason"]) == (
        releases["v1"], "#1", "carol", "500s on /login")
    assert back["text"].endswith("(release #1) by carol: 500s on /login")

    slack = hooks.bodies("slack")
    assert len(slack) == 5
    assert_slack(slack[1], "#2eb886", f"{service_name}: deployed", "as release #1")
    assert_slack(slack[4], "#daa038", f"{service_name}: rolled back to", "by carol")
    assert "notify: deployed sent to webhook 1 (json), webhook 2 (slack)" in procs[0].stderr
    assert_no_url_anywhere(hooks, procs, shipway.workdir, docker_client, [service_name],
                           skip=[catalog])


def test_an_automatic_rollback_is_one_event_carrying_the_task_error(
        svc, hooks, releases, service_name, shipway, docker_client):
    run, catalog = svc
    procs = [run("deploy", "--image", releases["v1"]),
             run("deploy", "--image", releases["broken"], check=1)]
    assert hooks.events("json") == ["started", "deployed", "started", "auto-rollback"], \
        (hooks.bodies("json")[-1], procs[1].stdout, procs[1].stderr[-3000:])
    body = hooks.bodies("json")[3]
    assert body["image"] == releases["broken"] and body["running_image"] == releases["v1"]
    assert body["reason"].startswith("swarm rolled the update back")
    assert body["task_error"].startswith("container unhealthy: "), body["task_error"]
    assert "task error: container unhealthy" in body["text"]
    message = hooks.bodies("slack")[3]
    assert_slack(message, "#a30200", "rolled back automatically", "container unhealthy")
    fields = {f["title"]: f["value"] for f in message["attachments"][0]["fields"]}
    assert fields["Task error"] == body["task_error"] and fields["Runs now"] == releases["v1"]
    assert_no_url_anywhere(hooks, procs, shipway.workdir, docker_client, [service_name],
                           skip=[catalog])


@contextlib.contextmanager
def held(client, service, holder):
    """The service's deploy lock held by `holder` in a thread of this process."""
    taken, done = threading.Event(), threading.Event()

    def hold():
        with lock.held(client.api, service, holder=holder, command="test", timeout=10,
                       report=lambda line: None, lease=30):
            taken.set()
            done.wait(120)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(30), "the lock was not taken"
    try:
        yield
    finally:
        done.set()
        thread.join(30)


def test_a_held_lock_is_lock_waiting_then_failed(svc, hooks, releases, service_name,
                                                 docker_client):
    run, _ = svc
    with held(docker_client, service_name, "bob@desk pid 4242"):
        proc = run("deploy", "--image", releases["v1"], "--lock-timeout", "2s", check=1)
    assert hooks.events("json") == ["lock-waiting", "failed"]
    waiting, failed = hooks.bodies("json")
    assert "held: test by bob@desk pid 4242 since " in waiting["reason"]
    assert waiting["command"] == "deploy"
    assert failed["reason"].startswith(f"service {service_name} is locked: test by bob@desk")
    assert failed["image"] == releases["v1"]
    assert_slack(hooks.bodies("slack")[0], "#daa038", "waits for the deploy lock")
    assert_slack(hooks.bodies("slack")[1], "#a30200", "deploy of", "failed")
    assert not docker_client.api.services(filters={"name": service_name})   # nothing made
    assert "notify: lock-waiting sent to" in proc.stderr


def test_webhooks_down_or_failing_are_a_line_each_and_the_deploy_goes_on(
        shipway, releases, service_name, tmp_path, hooks, docker_client):
    down = f"http://127.0.0.1:{closed_port()}/hooks/down-{random_name('x')}"
    catalog = write_catalog(str(tmp_path / "catalog.yml"), service_name, releases["repo"],
                            str(tmp_path))
    with_notify(catalog, hooks, json_url=down)
    hooks.fail("slack", 500)
    started = time.monotonic()
    proc = shipway("deploy", "--catalog", catalog, "--service", service_name, "--image",
                   releases["v1"], env=env_for(hooks), check=0)
    took = time.monotonic() - started
    lines = [line for line in proc.stderr.splitlines() if "notify:" in line]
    assert lines == [
        "[shipway] notify: webhook 1 (json) failed: connection refused; the deploy goes on",
        "[shipway] notify: webhook 2 (slack) failed: HTTP 500: internal error; the deploy "
        "goes on"] * 2
    assert len(hooks.bodies("slack")) == 6          # 3 attempts for each of 2 events
    assert f"{service_name}: created" in proc.stdout
    assert down.rsplit("/", 1)[1] not in proc.stderr + proc.stdout
    assert_no_url_anywhere(hooks, [proc], shipway.workdir, docker_client, [service_name],
                           skip=[catalog])
    print(f"deploy with a refused and a failing webhook took {took:.1f}s")


@pytest.fixture
def two_envs(docker_client, service_name, releases, tmp_path, hooks):
    names = {"staging": f"{service_name}-staging", "production": f"{service_name}-prod"}
    path = tmp_path / "shipway.yml"
    path.write_text(notify_block(hooks) + f"""
environments:
  staging: {{}}
  production: {{approval: {{submitter: ops}}}}
services:
  {service_name}:
    image: {releases['repo']}
    stop_grace_period: 1s
    deploy:
      replicas: 1
      timeout: {TEST_TIMEOUT}
      labels: {{shipway.test: "true"}}
{POLICY}    environments:
      staging: {{name: {names['staging']}}}
      production: {{name: {names['production']}}}
""")
    yield str(path), names
    for name in names.values():
        remove_service_and_releases(docker_client, name)


def test_approval_then_promotion(shipway, two_envs, hooks, service_name, releases,
                                 docker_client):
    catalog, names = two_envs
    base = ("--catalog", catalog, "--service", service_name)
    env = env_for(hooks, SHIPWAY_APPROVED_BY="ops-carol")
    procs = [shipway("deploy", *base, "--environment", "staging", "--image", releases["v2"],
                     env=env, check=0),
             shipway("notify", *base, "--event", "approval-waiting", "--environment",
                     "production", env=env, check=0),
             shipway("promote", *base, "--from", "staging", "--to", "production", env=env,
                     check=0)]
    assert hooks.events("json") == ["started", "deployed", "approval-waiting", "started",
                                    "promoted"]
    waiting, started, promoted = hooks.bodies("json")[2:]
    assert (waiting["environment"], waiting["release"], waiting["image"]) == (
        "production", "#1", releases["v2"])
    assert waiting["approve_url"] == BUILD["BUILD_URL"] + "input/"
    assert started["command"] == "promote" and started["environment"] == "production"
    assert (promoted["swarm_service"], promoted["release"], promoted["image"]) == (
        names["production"], "#1", releases["v2"])
    assert (promoted["from_environment"], promoted["from_release"],
            promoted["approved_by"]) == ("staging", "#1", "ops-carol")
    assert promoted["text"].startswith(f"{service_name} in production: promoted release #1 "
                                       "of staging")
    slack = hooks.bodies("slack")
    assert_slack(slack[4], "#2eb886", "promoted release #1 of staging")
    assert slack[2]["attachments"][0]["title_link"] == BUILD["BUILD_URL"] + "input/"
    assert_no_url_anywhere(hooks, procs, shipway.workdir, docker_client, names.values(),
                           skip=[catalog])


def test_a_group_that_fails_is_group_failed_then_a_rollback_by_hand_tells_each_member(
        shipway, hooks, releases, docker_client, tmp_path):
    prefix = random_name("gn")
    names = {m: f"{prefix}-{m}" for m in "ab"}
    entries = "".join(f"""
  {names[m]}:
    image: {releases['repo']}
    stop_grace_period: 1s
    deploy:
      replicas: 1
      timeout: {TEST_TIMEOUT}
      labels: {{shipway.test: "true"}}
{POLICY}""" for m in "ab")
    path = tmp_path / "shipway.yml"
    path.write_text(notify_block(hooks) + f"services:{entries}groups:\n  {prefix}:\n"
                    f"    steps: [{names['a']}, {names['b']}]\n")
    group = ("deploy", "--catalog", str(path), "--group", prefix)
    try:
        first = shipway(*group, "--image", f"{names['a']}={releases['v1']}",
                        "--image", f"{names['b']}={releases['v1']}", env=env_for(hooks),
                        check=0)
        seen = len(hooks.bodies("json"))
        # b is updated to a release swarm rolls back; the group then undoes a's update
        proc = shipway(*group, "--image", f"{names['a']}={releases['v2']}",
                       "--image", f"{names['b']}={releases['broken']}",
                       env=env_for(hooks), check=1)
        events = [(b["event"], b["service"]) for b in hooks.bodies("json")[seen:]]
        assert events == [("started", names["a"]), ("deployed", names["a"]),
                          ("started", names["b"]), ("auto-rollback", names["b"]),
                          ("group-failed", names["b"])], events
        failed = hooks.bodies("json")[-1]
        assert (failed["group"], failed["command"]) == (prefix, "group")
        assert failed["reason"].startswith(f"group {prefix} failed at step 2 ({names['b']}): ")
        assert failed["running_image"] == releases["v1"]
        assert_slack(hooks.bodies("slack")[-1], "#a30200", f"group {prefix}: ")
        # a good group release, then the rollback button: each member's `rollback`, newest
        # step first, saying the group, who and why
        second = shipway(*group, "--image", f"{names['a']}={releases['v2']}",
                         "--image", f"{names['b']}={releases['v2']}", env=env_for(hooks),
                         check=0)
        seen = len(hooks.bodies("json"))
        back = shipway("rollback", "--catalog", str(path), "--group", prefix, "--reason",
                       "checkout broken", env=env_for(hooks), check=0)
        bodies = hooks.bodies("json")[seen:]
        assert [(b["event"], b["service"]) for b in bodies] == [
            ("rollback", names["b"]), ("rollback", names["a"])], bodies
        for body in bodies:
            assert (body["group"], body["by"], body["reason"]) == (
                prefix, "alice", "checkout broken")
            assert body["image"] == releases["v1"]
        assert_slack(hooks.bodies("slack")[-1], "#daa038", f"{names['a']}: rolled back to")
        assert_no_url_anywhere(hooks, [first, proc, second, back], shipway.workdir,
                               docker_client, names.values(), skip=[str(path)])
    finally:
        for name in names.values():
            remove_service_and_releases(docker_client, name)
        for config in docker_client.api.configs(filters={"label": f"shipway.group.name={prefix}"}):
            docker_client.api.remove_config(config["ID"])


def test_a_group_waiting_for_approval_is_one_event_naming_each_members_release(
        shipway, hooks, releases, docker_client, tmp_path):
    """`notify --group` as the group's Jenkinsfile runs it before production's approval: after
    the real `deploy --group --environment staging`, from the records it left."""
    prefix = random_name("gw")
    members = {m: f"{prefix}-{m}" for m in "ab"}
    swarm = {m: f"{members[m]}-staging" for m in members}
    entries = "".join(f"""
  {members[m]}:
    image: {releases['repo']}
    stop_grace_period: 1s
    deploy:
      replicas: 1
      timeout: {TEST_TIMEOUT}
      labels: {{shipway.test: "true"}}
{POLICY}    environments:
      staging: {{name: {swarm[m]}}}
      production: {{name: {members[m]}-prod}}
""" for m in members)
    path = tmp_path / "shipway.yml"
    path.write_text(notify_block(hooks) + "environments:\n  staging: {}\n"
                    "  production: {approval: {submitter: ops}}\n"
                    f"services:{entries}groups:\n  {prefix}:\n"
                    f"    steps: [{members['a']}, {members['b']}]\n")
    base = ("--catalog", str(path), "--group", prefix)
    images = {"a": releases["v1"], "b": releases["v2"]}
    try:
        deployed = shipway("deploy", *base, "--environment", "staging",
                           *[arg for m in members for arg in
                             ("--image", f"{members[m]}={images[m]}")],
                           env=env_for(hooks), check=0)
        seen = len(hooks.bodies("json"))
        proc = shipway("notify", *base, "--event", "approval-waiting", "--environment",
                       "production", env=env_for(hooks), check=0)
        assert proc.stdout == ""
        assert proc.stderr.splitlines() == [
            "[shipway] notify: approval-waiting sent to webhook 1 (json), webhook 2 (slack)"]
        # one event for the group, though both members notify both webhooks
        (body,) = hooks.bodies("json")[seen:]
        assert (body["event"], body["group"], body["service"], body["environment"]) == (
            "approval-waiting", prefix, "", "production")
        assert body["members"] == {members[m]: {
            "image": images[m], "digest": images[m].rsplit("@", 1)[1], "release": "#1"}
            for m in members}
        assert body["from_environment"] == "staging"
        assert body["approve_url"] == BUILD["BUILD_URL"] + "input/"
        assert body["text"].startswith(
            f"group {prefix} in production: waiting for approval (build 42): approve the "
            f"deploy of {members['a']} {images['a'][:-52]}, {members['b']} ")
        assert body["text"].endswith(" (submitter: ops)")
        (message,) = hooks.bodies("slack")[seen:]
        assert message["text"] == body["text"]
        (attachment,) = message["attachments"]
        assert (attachment["color"], attachment["title_link"]) == (
            "#439fe0", BUILD["BUILD_URL"] + "input/")
        fields = {f["title"]: f["value"] for f in attachment["fields"]}
        assert fields["Group"] == prefix and fields[members["b"]] == images["b"]
        assert_no_url_anywhere(hooks, [deployed, proc], shipway.workdir, docker_client,
                               swarm.values(), skip=[str(path)])
    finally:
        for name in swarm.values():
            remove_service_and_releases(docker_client, name)
        # the group's releases in staging are recorded as <group>.staging
        for config in docker_client.api.configs(
                filters={"label": f"shipway.group.name={prefix}.staging"}):
            docker_client.api.remove_config(config["ID"])
