"""`shipway notify --event approval-waiting` (pipeline/stages/notify.py), in-process against a
real HTTP receiver on loopback: what the rendered Jenkinsfiles run before an approval, for a
service (`--service`) or a group (`--group`: one event, each member's release). No engine: it
reads the catalog and this workspace's records only."""
import io

import pytest

from pipeline import cli, state
from pipeline.console import Console
from tests.support.webhooks import Receiver, closed_port

IMAGE = "127.0.0.1:5000/team/web:42@sha256:" + "ab" * 32


@pytest.fixture
def receiver():
    with Receiver() as found:
        yield found


def write_catalog(tmp_path, receiver, extra=""):
    path = tmp_path / "shipway.yml"
    path.write_text(f"""
environments:
  staging: {{}}
  production: {{approval: {{submitter: ops}}}}
notify:
  - {{webhook: "{receiver.url('json')}", on: [approval-waiting]}}
  - {{webhook_env: OPS_HOOK, format: slack, on: [approval-waiting, failed]}}
{extra}services:
  web:
    image: 127.0.0.1:5000/team/web
""")
    return str(path)


def run(argv, environ):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, environ=environ, console=Console(out, err))
    return code, out.getvalue(), err.getvalue()


def environ(receiver, tmp_path, **more):
    return {"OPS_HOOK": receiver.url("slack"), "SHIPWAY_STATE_DIR": str(tmp_path / "state"),
            "BUILD_URL": "https://ci.example/job/web/42/", "BUILD_NUMBER": "42",
            "JOB_NAME": "web", "SHIPWAY_ACTOR": "alice", **more}


def test_approval_waiting_carries_the_release_staging_runs(receiver, tmp_path):
    catalog = write_catalog(tmp_path, receiver)
    state.save(str(tmp_path / "state"), "web.staging", "deploy",
               {"ok": True, "image": IMAGE, "digest": "sha256:" + "ab" * 32,
                "release": {"seq": 7}})
    code, out, err = run(["notify", "--catalog", catalog, "--service", "web", "--event",
                          "approval-waiting", "--environment", "production"],
                         environ(receiver, tmp_path))
    assert (code, out) == (0, "")
    assert err == ("[shipway] notify: approval-waiting sent to webhook 1 (json), "
                   "webhook 2 (slack)\n")
    (body,) = receiver.bodies("json")
    assert (body["event"], body["environment"], body["release"], body["image"]) == (
        "approval-waiting", "production", "#7", IMAGE)
    assert body["from_environment"] == "staging"
    assert body["approve_url"] == "https://ci.example/job/web/42/input/"
    assert body["text"] == ("web in production: waiting for approval (build 42): approve the "
                            f"deploy of {IMAGE} (submitter: ops)")
    (slack,) = receiver.bodies("slack")
    assert slack["attachments"][0]["title_link"] == "https://ci.example/job/web/42/input/"
    for secret in receiver.tokens():
        assert secret not in err


def test_without_a_deploy_record_the_push_record_says_what_waits(receiver, tmp_path):
    catalog = write_catalog(tmp_path, receiver)
    state.save(str(tmp_path / "state"), "web", "push", {"reference": IMAGE})
    code, _, _ = run(["notify", "--catalog", catalog, "--service", "web", "--event",
                      "approval-waiting"],
                     environ(receiver, tmp_path, SHIPWAY_ENVIRONMENT="production"))
    assert code == 0
    (body,) = receiver.bodies("json")
    assert (body["image"], body["digest"], body["release"]) == (IMAGE, "sha256:" + "ab" * 32, "")


def test_webhooks_that_fail_are_a_line_each_and_exit_0(receiver, tmp_path):
    catalog = write_catalog(tmp_path, receiver, extra=(
        f'  - {{webhook: "http://127.0.0.1:{closed_port()}/hooks/down-0123456789"}}\n'))
    receiver.fail("json", 500)
    code, out, err = run(["notify", "--catalog", catalog, "--service", "web", "--event",
                          "approval-waiting", "--environment", "production"],
                         environ(receiver, tmp_path))
    assert (code, out) == (0, "")
    assert err.splitlines() == [
        "[shipway] notify: webhook 1 (json) failed: HTTP 500: internal error; the build goes on",
        "[shipway] notify: webhook 3 (json) failed: connection refused; the build goes on",
        "[shipway] notify: approval-waiting sent to webhook 2 (slack)"]
    assert "0123456789" not in err and "down" not in err


def test_no_webhook_listening_sends_nothing_and_says_so(receiver, tmp_path):
    path = tmp_path / "shipway.yml"
    path.write_text("services:\n  web:\n    image: 127.0.0.1:5000/team/web\n"
                    "    notify: [{webhook_env: OPS_HOOK, on: [failed]}]\n")
    code, out, err = run(["notify", "--catalog", str(path), "--service", "web", "--event",
                          "approval-waiting"], environ(receiver, tmp_path))
    assert (code, out) == (0, "")
    assert err == "[shipway] notify: no webhook of web is told approval-waiting; nothing sent\n"
    assert receiver.posts == []


@pytest.mark.parametrize("argv, words", [
    (["--event", "deployed"], "invalid choice: 'deployed'"),
    (["--event", "approval-waiting", "--environment", "qa"], "no environment 'qa'"),
    (["--event", "approval-waiting", "--environment", "all"], "only for `shipway status`"),
])
def test_bad_input_is_one_line_and_exit_2(receiver, tmp_path, argv, words):
    catalog = write_catalog(tmp_path, receiver)
    code, out, err = run(["notify", "--catalog", catalog, "--service", "web", *argv],
                         environ(receiver, tmp_path))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and words in err, err
    assert receiver.posts == []


# --- --group ---------------------------------------------------------------------------------
API = "127.0.0.1:5000/team/api:42@sha256:" + "cd" * 32


def write_group_catalog(tmp_path, receiver, web_on="[approval-waiting]"):
    """Group shop (api, then web): the json webhook is api's and web's (told once), the
    slack one web's alone."""
    json_hook = f'{{webhook: "{receiver.url("json")}", on: [approval-waiting, failed]}}'
    path = tmp_path / "shipway.yml"
    path.write_text(f"""
environments:
  staging: {{}}
  production: {{approval: {{submitter: ops}}}}
services:
  api:
    image: 127.0.0.1:5000/team/api
    notify: [{json_hook}]
  web:
    image: 127.0.0.1:5000/team/web
    notify:
      - {json_hook}
      - {{webhook_env: OPS_HOOK, format: slack, on: {web_on}}}
groups:
  shop:
    steps: [api, web]
""")
    return str(path)


GROUP = ["--group", "shop", "--event", "approval-waiting"]


def test_a_group_is_one_event_naming_what_the_group_deploy_to_staging_left(receiver, tmp_path):
    catalog = write_group_catalog(tmp_path, receiver)
    for member, image, seq in (("api", API, 3), ("web", IMAGE, 7)):
        # what `deploy --group shop --environment staging` saves for each member
        state.save(str(tmp_path / "state"), f"{member}.staging", "deploy",
                   {"ok": True, "image": image, "digest": image.rpartition("@")[2],
                    "release": {"seq": seq}, "environment": "staging"})
    code, out, err = run(["notify", "--catalog", catalog, *GROUP, "--environment",
                          "production"], environ(receiver, tmp_path))
    assert (code, out) == (0, "")
    assert err == ("[shipway] notify: approval-waiting sent to webhook 1 (json), "
                   "webhook 2 (slack)\n")
    (body,) = receiver.bodies("json")
    assert (body["event"], body["group"], body["service"], body["environment"],
            body["command"]) == ("approval-waiting", "shop", "", "production", "notify")
    assert body["members"] == {
        "api": {"image": API, "digest": "sha256:" + "cd" * 32, "release": "#3"},
        "web": {"image": IMAGE, "digest": "sha256:" + "ab" * 32, "release": "#7"}}
    assert body["from_environment"] == "staging"
    assert body["approve_url"] == "https://ci.example/job/web/42/input/"
    assert body["text"] == (
        "group shop in production: waiting for approval (build 42): approve the deploy of "
        "api 127.0.0.1:5000/team/api:42@sha256:cdcdcdcdcdcd, "
        "web 127.0.0.1:5000/team/web:42@sha256:abababababab (submitter: ops)")
    (slack,) = receiver.bodies("slack")
    assert slack["attachments"][0]["title_link"] == body["approve_url"]
    for secret in receiver.tokens():
        assert secret not in err


def test_a_group_without_deploy_records_says_what_was_pushed(receiver, tmp_path):
    catalog = write_group_catalog(tmp_path, receiver)
    state.save(str(tmp_path / "state"), "api", "push", {"reference": API})
    code, _, _ = run(["notify", "--catalog", catalog, *GROUP],
                     environ(receiver, tmp_path, SHIPWAY_ENVIRONMENT="production"))
    assert code == 0
    (body,) = receiver.bodies("json")
    assert body["members"]["api"] == {"image": API, "digest": "sha256:" + "cd" * 32,
                                      "release": ""}
    assert body["members"]["web"] == {"image": "", "digest": "", "release": ""}
    assert body["from_environment"] == ""
    assert "api 127.0.0.1:5000/team/api:42@sha256:cdcdcdcdcdcd, web (this build)" \
        in body["text"]


def test_a_group_no_webhook_of_which_listens_sends_nothing(receiver, tmp_path):
    path = tmp_path / "shipway.yml"
    path.write_text("services:\n  api:\n    image: 127.0.0.1:5000/team/api\n"
                    "    notify: [{webhook_env: OPS_HOOK, on: [failed]}]\n"
                    "groups:\n  shop:\n    steps: [api]\n")
    code, out, err = run(["notify", "--catalog", str(path), *GROUP],
                         environ(receiver, tmp_path))
    assert (code, out) == (0, "")
    assert err == ("[shipway] notify: no webhook of group shop is told approval-waiting; "
                   "nothing sent\n")
    assert receiver.posts == []


@pytest.mark.parametrize("argv, words", [
    (["--group", "shop", "--service", "web"], "give --service NAME or --group NAME, one of"),
    ([], "give --service NAME or --group NAME, one of"),
    (["--group", "cart"], "no group 'cart' in the catalog (groups: shop)"),
    (["--group", "shop", "--environment", "qa"], "no environment 'qa'"),
])
def test_service_or_group_exactly_one_and_known(receiver, tmp_path, argv, words):
    catalog = write_group_catalog(tmp_path, receiver)
    code, out, err = run(["notify", "--catalog", catalog, "--event", "approval-waiting", *argv],
                         environ(receiver, tmp_path))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and words in err, err
    assert receiver.posts == []
