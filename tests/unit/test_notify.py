"""Notifications, the pure parts (pipeline/notify.py): which event a deploy's record makes,
the JSON body and the Slack-compatible message, the webhooks of a service's list, and the
masking of their URLs. Records in tests/fixtures/notify are `deploy --json` and `rollback
--json` from the lab (a new service, an update, a broken release swarm rolled back, a
rollback by hand)."""
import io
import json
import os

import pytest

from pipeline import notify
from pipeline.console import Console
from pipeline.context import BuildInfo, Context

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "notify")
BUILD = BuildInfo(commit="0123456789abcdef", number="42", url="https://ci.example/job/web/42/",
                  job="web", user="alice")


def recorded(name):
    with open(os.path.join(FIXTURES, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def base(command="deploy", **extra):
    settings = {"entry": "web", "name": "web-prod", "environment": "production"}
    return notify.base_fields(settings, BUILD, command, **extra)


# --- which event -------------------------------------------------------------------------
def test_a_new_service_and_an_update_are_deployed():
    for name, seq in (("deploy-v1", "#1"), ("deploy-v2", "#2")):
        record = recorded(name)
        event, fields = notify.outcome_event("deploy", record)
        assert event == "deployed"
        assert fields["release"] == seq and fields["image"] == record["image"]
        assert fields["digest"] == record["digest"] and fields["digest"].startswith("sha256:")


def test_swarm_rolling_a_broken_release_back_is_one_auto_rollback_with_the_task_error():
    record = recorded("deploy-broken")
    event, fields = notify.outcome_event("deploy", record)
    assert event == "auto-rollback"
    assert fields["reason"] == "swarm rolled the update back"
    assert fields["task_error"].startswith("container unhealthy: 2 failed health checks")
    assert fields["running_image"] == recorded("deploy-v2")["image"]
    assert fields["release"] == ""     # the broken release was never recorded


def test_the_analysis_rolling_back_is_an_auto_rollback_too():
    record = {**recorded("deploy-broken"), "update_state": "completed",
              "reason": "check error-rate: 0.135 is above max 0.05 (2 failed evaluations, "
                        "canary); rolled back to release #1 (build 42)", "task_error": ""}
    event, fields = notify.outcome_event("deploy", record, rolled_back=True)
    assert event == "auto-rollback" and fields["reason"].startswith("check error-rate: 0.135")


def test_a_failure_nothing_rolled_back_is_failed():
    record = {**recorded("deploy-broken"), "update_state": "paused",
              "reason": "swarm paused the update"}
    event, fields = notify.outcome_event("deploy", record, "swarm paused the update (task x)")
    assert event == "failed" and fields["reason"] == "swarm paused the update (task x)"


def test_a_rollback_by_hand_and_a_promotion():
    record = recorded("rollback")
    assert notify.outcome_event("rollback", record)[0] == "rollback"
    assert notify.outcome_event("rollback", {**record, "ok": False,
                                             "update_state": "rollback_completed"})[0] == "failed"
    assert notify.outcome_event("promote", recorded("deploy-v2"))[0] == "promoted"


# --- the bodies ----------------------------------------------------------------------------
def test_the_json_body_has_every_field_and_one_line_of_text():
    event, fields = notify.outcome_event("deploy", recorded("deploy-broken"))
    body = notify.event_body(event, {**base(), **fields})
    assert list(body) == list(notify.FIELDS)
    assert body["event"] == "auto-rollback" and body["service"] == "web"
    assert body["swarm_service"] == "web-prod" and body["environment"] == "production"
    assert (body["commit"], body["build_number"], body["build_url"], body["by"]) == (
        "0123456789abcdef", "42", "https://ci.example/job/web/42/", "alice")
    assert body["text"] == (
        "web in production: 127.0.0.1:5000/test/hello-ffb4626a:broken@sha256:df6cc8d260b2 "
        "rolled back automatically: swarm rolled the update back; task error: container "
        "unhealthy: 2 failed health checks, last exit 1: wget: server returned error: "
        "HTTP/1.1 404 Not Found; it runs "
        "127.0.0.1:5000/test/hello-ffb4626a:v2@sha256:784f7684e58c")
    assert json.loads(json.dumps(body)) == body


@pytest.mark.parametrize("event, fields, text", [
    ("started", {"image": "r/web:2@sha256:" + "a" * 64},
     "web in production: deploying r/web:2@sha256:aaaaaaaaaaaa (build 42) by alice"),
    ("deployed", {"image": "r/web:2", "release": "#3", "action": "updated"},
     "web in production: deployed r/web:2 as release #3 (build 42)"),
    ("deployed", {"image": "r/web:2", "release": "#3", "action": "unchanged"},
     "web in production: already runs r/web:2 as release #3 (build 42)"),
    ("failed", {"image": "r/web:2", "reason": "service web-prod is locked: deploy by bob"},
     "web in production: deploy of r/web:2 failed: service web-prod is locked: deploy by bob"),
    ("rollback", {"image": "r/web:1", "release": "#2", "reason": "500s on /login"},
     "web in production: rolled back to r/web:1 (release #2) by alice: 500s on /login"),
    ("lock-waiting", {"reason": "held: deploy by bob since 12:00:00Z"},
     "web in production: deploy waits for the deploy lock (held: deploy by bob since "
     "12:00:00Z)"),
    ("group-failed", {"group": "shop", "reason": "group shop failed at step 2 (api): api: x"},
     "group shop: group shop failed at step 2 (api): api: x"),
])
def test_each_event_reads_as_one_line(event, fields, text):
    assert notify.event_body(event, {**base(), **fields})["text"] == text


def test_a_promotion_says_where_it_came_from():
    fields = base("promote", from_environment="staging", from_release="#7", approved_by="ops")
    body = notify.event_body("promoted", {**fields, "image": "r/web:2", "release": "#3"})
    assert body["text"] == ("web in production: promoted release #7 of staging (r/web:2) as "
                            "release #3 (build 42)")
    assert (body["approved_by"], body["from_environment"]) == ("ops", "staging")


def test_the_slack_message_is_text_and_one_attachment_all_three_chats_render():
    event, fields = notify.outcome_event("deploy", recorded("deploy-broken"))
    body = notify.event_body(event, {**base(), **fields})
    message = notify.rendered("slack", body)
    assert set(message) == {"text", "attachments"}
    (attachment,) = message["attachments"]
    assert set(attachment) == {"fallback", "color", "title", "title_link", "fields"}
    assert attachment["color"] == "#a30200" and attachment["title"] == "web #42"
    assert attachment["title_link"] == "https://ci.example/job/web/42/"
    titles = [field["title"] for field in attachment["fields"]]
    assert titles == ["Service", "Environment", "By", "Commit", "Image", "Reason",
                      "Task error", "Runs now"]
    assert all(set(field) == {"title", "value", "short"} for field in attachment["fields"])


def test_the_slack_message_escapes_what_slack_reads_as_markup():
    body = notify.event_body("failed", {**base(), "reason": "<!channel> a & b > c"})
    message = notify.slack_body(body)
    assert "&lt;!channel&gt; a &amp; b &gt; c" in message["text"]
    assert "<" not in json.dumps(message)
    assert notify.rendered("json", body)["reason"] == "<!channel> a & b > c"


def test_control_characters_never_break_the_line():
    body = notify.event_body("failed", {**base(), "reason": "one\ntwo\x1b[31m three"})
    assert body["text"] == "web in production: deploy of - failed: one two three"


# --- the webhooks and their secrets --------------------------------------------------------
ENTRIES = [{"webhook": "https://hooks.example/services/T0/B0/sekrit-token", "format": "slack",
            "on": ["failed"]},
           {"webhook_env": "OPS_HOOK", "format": "json", "on": list(notify.EVENTS)},
           {"webhook_env": "UNSET_HOOK", "format": "json", "on": ["failed"]},
           {"webhook_env": "BAD_HOOK", "format": "json", "on": ["failed"]}]
ENVIRON = {"OPS_HOOK": "http://127.0.0.1:9/hooks/ops-0123456789", "BAD_HOOK": "sekrit-value"}


def test_hooks_take_their_url_from_the_catalog_or_the_variable():
    hooks = notify.hooks_of(ENTRIES, ENVIRON)
    assert [(h.index, h.format, h.url is not None, h.problem) for h in hooks] == [
        (1, "slack", True, ""), (2, "json", True, ""),
        (3, "json", False, "$UNSET_HOOK is not set"),
        (4, "json", False, "$BAD_HOOK does not hold an http(s) URL")]
    assert hooks[1].url == ENVIRON["OPS_HOOK"]
    assert notify.secrets_of(hooks) == [
        ENTRIES[0]["webhook"], "/services/T0/B0/sekrit-token",
        ENVIRON["OPS_HOOK"], "/hooks/ops-0123456789"]


def test_the_notifier_sends_what_each_hook_listens_for_and_says_so_in_one_line():
    lines, posts = [], []

    def post(url, body):
        posts.append((url, body))
        return "HTTP 500: oops" if "ops" in url else ""

    notifier = notify.Notifier(notify.hooks_of(ENTRIES, ENVIRON), base(), lines.append, post)
    notifier("started", image="r/web:2")
    notifier("failed", image="r/web:2", reason="boom")
    notifier("failed", image="r/web:2", reason="boom again")
    assert [url for url, _ in posts] == [ENVIRON["OPS_HOOK"], ENTRIES[0]["webhook"],
                                         ENVIRON["OPS_HOOK"], ENTRIES[0]["webhook"],
                                         ENVIRON["OPS_HOOK"]]
    assert lines == [
        "notify: webhook 2 (json) failed: HTTP 500: oops; the deploy goes on",
        "notify: webhook 2 (json) failed: HTTP 500: oops; the deploy goes on",
        "notify: webhook 3 (json): $UNSET_HOOK is not set; not sent",
        "notify: webhook 4 (json): $BAD_HOOK does not hold an http(s) URL; not sent",
        "notify: failed sent to webhook 1 (slack)",
        "notify: webhook 2 (json) failed: HTTP 500: oops; the deploy goes on",
        "notify: failed sent to webhook 1 (slack)"]
    assert "attachments" in posts[1][1] and posts[0][1]["event"] == "started"


def test_building_a_notifier_masks_its_urls_from_then_on():
    err = io.StringIO()
    console = Console(io.StringIO(), err)
    ctx = Context.from_env({"OPS_HOOK": ENVIRON["OPS_HOOK"]}, console)
    settings = {"entry": "web", "name": "web", "environment": None, "notify": ENTRIES[:2]}
    notify.notifier(settings, ctx)
    console.event(f"posting to {ENVIRON['OPS_HOOK']} and {ENTRIES[0]['webhook']}")
    console.error("https://elsewhere.example/services/T0/B0/sekrit-token failed")
    assert "sekrit" not in err.getvalue() and "ops-0123456789" not in err.getvalue()
    assert err.getvalue().count("***") == 3
    assert ENVIRON["OPS_HOOK"] in ctx.secrets() and ENTRIES[0]["webhook"] in ctx.secrets()


def test_a_group_notifies_each_webhook_of_its_members_once():
    shared = {"webhook_env": "OPS_HOOK", "format": "json", "on": ["group-failed"]}
    own = {"webhook_env": "API_HOOK", "format": "slack", "on": ["group-failed"]}
    members = [{"name": "a", "notify": [shared]}, {"name": "b", "notify": [shared, own]}]
    ctx = Context.from_env({"OPS_HOOK": ENVIRON["OPS_HOOK"]}, Console(io.StringIO(),
                                                                    io.StringIO()))
    notifier = notify.for_group(members, ctx, "shop", "production")
    assert [(h.index, h.format) for h in notifier.hooks] == [(1, "json"), (2, "slack")]
    assert notifier.base["group"] == "shop" and notifier.base["command"] == "group"


# --- a group's approval-waiting ------------------------------------------------------------
def group_base(members):
    """What `shipway notify --group shop --environment production` sends, `members` from
    the records the group's deploy to staging left (recorded deploy records here)."""
    settings = {"entry": "", "name": "", "environment": "production"}
    return {**notify.base_fields(settings, BUILD, "notify", group="shop"),
            "members": members, "from_environment": "staging",
            "approve_url": BUILD.url + "input/",
            "reason": notify.group_waiting_reason(members, "ops")}


def staging_records():
    return {member: {"image": record["image"], "digest": record["digest"],
                     "release": f"#{record['release']['seq']}"}
            for member, record in (("api", recorded("deploy-v1")),
                                   ("web", recorded("deploy-v2")))}


def test_a_group_waiting_for_approval_is_one_line_naming_the_group_and_each_image():
    body = notify.event_body("approval-waiting", group_base(staging_records()))
    assert (body["group"], body["service"], body["environment"]) == ("shop", "", "production")
    assert body["text"] == (
        "group shop in production: waiting for approval (build 42): approve the deploy of "
        "api 127.0.0.1:5000/test/hello-ffb4626a:v1@sha256:73f6c5b97a70, "
        "web 127.0.0.1:5000/test/hello-ffb4626a:v2@sha256:784f7684e58c (submitter: ops)")
    # the JSON keeps every member's whole reference, digest and its release in staging
    assert body["members"] == staging_records()
    assert body["members"]["web"]["image"] == recorded("deploy-v2")["image"]
    assert (body["image"], body["release"]) == ("", "")
    assert list(body) == list(notify.FIELDS) and json.loads(json.dumps(body)) == body


def test_a_group_member_this_workspace_has_no_record_of_is_this_build():
    records = staging_records()
    records["web"] = {"image": "", "digest": "", "release": ""}
    assert notify.group_waiting_reason(records) == (
        "approve the deploy of api 127.0.0.1:5000/test/hello-ffb4626a:v1@sha256:73f6c5b97a70, "
        "web (this build)")
    nothing = {member: {"image": ""} for member in records}
    assert notify.group_waiting_reason(nothing, "ops") == \
        "approve the deploy of this build (submitter: ops)"


def test_the_slack_message_of_a_group_names_it_and_links_the_input_page():
    message = notify.rendered("slack", notify.event_body("approval-waiting",
                                                         group_base(staging_records())))
    (attachment,) = message["attachments"]
    assert attachment["color"] == "#439fe0"
    assert attachment["title_link"] == "https://ci.example/job/web/42/input/"
    fields = [(f["title"], f["value"], f["short"]) for f in attachment["fields"]]
    assert fields[:2] == [("Group", "shop", True), ("Environment", "production", True)]
    assert fields[-2:] == [("api", recorded("deploy-v1")["image"], False),
                           ("web", recorded("deploy-v2")["image"], False)]
    assert "Service" not in [title for title, _, _ in fields]


def test_an_event_of_one_service_has_no_members():
    body = notify.event_body("deployed", {**base(), "image": "r/web:2"})
    assert body["members"] == "" and body["group"] == ""
