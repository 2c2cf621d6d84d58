"""The catalog's `notify:` (pipeline/catalog/notify_keys.py): read from YAML as users write
it (`on:` bare, which PyYAML reads as true), checked, with its defaults; top-level entries
first in every service's list; a key true anywhere else refused as before."""
import pytest

from pipeline import catalog
from pipeline.catalog.notify_keys import EVENTS
from pipeline.errors import CatalogError

SERVICE = "services:\n  web:\n    image: 127.0.0.1:5000/team/web\n"


def load(tmp_path, text):
    path = tmp_path / "shipway.yml"
    path.write_text(text)
    return catalog.load(str(path))


def refused(tmp_path, text):
    with pytest.raises(CatalogError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def test_a_bare_on_key_is_the_filter(tmp_path):
    loaded = load(tmp_path, "notify:\n  - webhook_env: OPS_HOOK\n    format: slack\n"
                            "    on: [failed, auto-rollback]\n" + SERVICE)
    assert loaded.service("web")["notify"] == [{
        "webhook": None, "webhook_env": "OPS_HOOK", "credentials": None, "format": "slack",
        "on": ["failed", "auto-rollback"]}]


def test_the_on_key_in_flow_style_and_quoted_mean_the_same(tmp_path):
    bare = load(tmp_path, "notify: [{webhook_env: H, on: [started]}]\n" + SERVICE)
    quoted = load(tmp_path, "notify: [{webhook_env: H, 'on': [started]}]\n" + SERVICE)
    assert bare.service("web")["notify"] == quoted.service("web")["notify"]
    assert bare.service("web")["notify"][0]["on"] == ["started"]


def test_on_given_twice_is_refused(tmp_path):
    message = refused(tmp_path, "notify: [{webhook_env: H, on: [started], 'on': [failed]}]\n"
                      + SERVICE)
    assert "key 'notify[0].on': is given twice" in message


def test_a_key_true_elsewhere_is_still_refused(tmp_path):
    top = refused(tmp_path, "on: [failed]\n" + SERVICE)
    assert "key 'True': unknown top-level key" in top
    service = refused(tmp_path, SERVICE + "    on: [failed]\n")
    assert "key 'True': unknown key" in service
    analysis = refused(tmp_path, SERVICE + "    deploy: {analysis: {on: 1}}\n")
    assert "key 'deploy.analysis.True': unknown key" in analysis


def test_defaults_every_event_and_json(tmp_path):
    loaded = load(tmp_path, SERVICE + "    notify: [{webhook: 'https://hooks.example/x'}]\n")
    (entry,) = loaded.service("web")["notify"]
    assert entry["format"] == "json" and entry["on"] == list(EVENTS)


def test_top_level_entries_come_first_and_an_environment_replaces_the_service_list(tmp_path):
    loaded = load(tmp_path, """
environments: {staging: {}, production: {}}
notify: [{webhook_env: ALL, on: [failed]}]
services:
  web:
    image: 127.0.0.1:5000/team/web
    notify: [{webhook_env: WEB}]
    environments:
      production: {notify: [{webhook_env: PAGER, on: [auto-rollback]}]}
""")
    def variables(environment=None):
        return [e["webhook_env"] for e in loaded.service("web", environment)["notify"]]
    assert variables() == ["ALL", "WEB"]
    assert variables("staging") == ["ALL", "WEB"]
    assert variables("production") == ["ALL", "PAGER"]


@pytest.mark.parametrize("entry, key, words", [
    ("{format: slack}", "notify[0]", "needs one of webhook"),
    ("{webhook: 'https://h/x', webhook_env: H}", "notify[0]", "needs one of webhook"),
    ("{webhook: 'ftp://h/x'}", "notify[0].webhook", "http:// or https://"),
    ("{webhook: 'https://h/x', credentials: c}", "notify[0].credentials", "give webhook_env"),
    ("{webhook_env: 'A B'}", "notify[0].webhook_env", "environment variable name"),
    ("{webhook_env: H, format: teams}", "notify[0].format", "json, slack"),
    ("{webhook_env: H, on: [deployed, exploded]}", "notify[0].on", "'exploded'"),
    ("{webhook_env: H, on: []}", "notify[0].on", "list of events"),
    ("{webhook_env: H, colour: red}", "notify[0].colour", "unknown key"),
    ("{webhook_env: H, on: }", "notify[0].on", "needs a value"),
    ("just-a-url", "notify[0]", "must be a mapping"),
])
def test_bad_entries_name_the_key(tmp_path, entry, key, words):
    message = refused(tmp_path, SERVICE + f"    notify: [{entry}]\n")
    assert f"key '{key}'" in message and words in message, message
    assert "\n" not in message


def test_a_bad_url_is_not_repeated_in_the_error(tmp_path):
    message = refused(tmp_path, SERVICE + "    notify: [{webhook: 'hooks.example/T0/sekrit'}]\n")
    assert "sekrit" not in message


def test_a_top_level_notify_that_is_no_list(tmp_path):
    message = refused(tmp_path, "notify: {webhook_env: H}\n" + SERVICE)
    assert "key 'notify': must be a list of webhooks" in message


def test_a_credentials_id_is_a_jenkins_id(tmp_path):
    message = refused(tmp_path, SERVICE + "    notify: [{webhook_env: H, credentials: 'a b'}]\n")
    assert "Jenkins credentials id" in message
