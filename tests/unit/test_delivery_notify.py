"""The rendered pipeline and rollback jobs with `notify:` (pipeline/delivery.py,
pipeline/render.py): each webhook's Jenkins secret text bound to its variable around the
commands that send (deploy, promote, rollback), `shipway notify --event approval-waiting`
before each gate whose webhooks listen for it, and no webhook URL in anything rendered."""
from pipeline import catalog, delivery, render

BASE = ["--catalog", "shipway.yml", "--service", "hello"]
URL = "https://hooks.example/services/T0/B0/sekrit-token"


def make(notify, production_notify=None):
    entry = {"image": "127.0.0.1:5000/x/hello", "notify": [{"webhook": URL, "on": ["failed"]}],
             "jenkins": {"repo": "https://git.example.com/x.git", "credentials": "reg"}}
    if production_notify is not None:
        entry["environments"] = {"production": {"notify": production_notify}}
    return catalog.from_data({
        "version": 1, "name": "t", "notify": notify,
        "environments": {"staging": {}, "production": {"approval": {"submitter": "ops"}}},
        "services": {"hello": entry}}, "t.yml")


OPS = {"webhook_env": "OPS_HOOK", "credentials": "ops-hook", "format": "slack",
       "on": ["failed", "approval-waiting"]}
STRING = ("string", "ops-hook", {"variable": "OPS_HOOK"})


def test_the_webhook_credentials_are_bound_where_events_are_sent():
    staging, production = delivery.targets(make([OPS]), "hello", BASE)
    assert STRING in staging.bindings and STRING in production.bindings
    assert STRING not in staging.status_bindings
    assert delivery.notify_bindings(make([OPS]).service("hello")) == [STRING]


def test_a_gate_whose_webhooks_listen_is_announced_by_the_stage_before():
    staging, production = delivery.targets(make([OPS]), "hello", BASE)
    assert staging.announce == ["shipway", "notify", *BASE, "--event", "approval-waiting",
                                "--environment", "production"]
    assert staging.announce_bindings == [STRING]
    assert production.announce is None


def test_no_announcement_when_no_webhook_of_the_gated_environment_listens():
    quiet = {**OPS, "on": ["failed"]}
    staging, _ = delivery.targets(make([quiet]), "hello", BASE)
    assert staging.announce is None
    # production's own list decides: its webhooks are the ones told
    staging, _ = delivery.targets(make([quiet], production_notify=[
        {"webhook_env": "PAGER", "credentials": "pager", "on": ["approval-waiting"]}]),
        "hello", BASE)
    assert staging.announce_bindings == [("string", "pager", {"variable": "PAGER"})]


def test_the_jenkinsfile_runs_notify_after_the_milestone_before_the_gate():
    text = render.render_jenkinsfile(make([OPS]), "hello")
    lines = text.splitlines()
    notify = next(i for i, line in enumerate(lines) if "shipway notify" in line)
    assert "milestone(ordinal: 2, label: 'before production')" in lines[notify - 2]
    assert lines[notify - 1].strip() == \
        "withCredentials([string(credentialsId: 'ops-hook', variable: 'OPS_HOOK')]) {"
    assert lines[notify].strip() == ("sh 'shipway notify --catalog shipway.yml --service hello "
                                     "--event approval-waiting --environment production'")
    assert text.index("shipway notify") < text.index("stage('Approve production')")


def test_no_webhook_url_in_anything_rendered():
    loaded = make([OPS, {"webhook": URL.replace("sekrit", "other"), "on": ["rollback"]}])
    rendered = [render.render_jenkinsfile(loaded, "hello"),
                render.render_rollback(loaded, "hello"),
                render.render_rollback(loaded, "hello", "production"),
                render.render_job_config(loaded, "hello", "pipeline"),
                render.render_job_config(loaded, "hello", "rollback", environment="staging")]
    for text in rendered:
        assert "sekrit" not in text and "hooks.example" not in text
    assert "string(credentialsId: 'ops-hook', variable: 'OPS_HOOK')" in rendered[2]


def test_a_catalog_without_environments_binds_the_webhooks_around_deploy_and_rollback():
    loaded = catalog.from_data({"services": {"hello": {
        "image": "127.0.0.1:5000/x/hello", "notify": [OPS],
        "jenkins": {"repo": "https://git.example.com/x.git"}}}}, "t.yml")
    jenkinsfile = render.render_jenkinsfile(loaded, "hello")
    assert "withCredentials([string(credentialsId: 'ops-hook', variable: 'OPS_HOOK')])" \
        in jenkinsfile
    assert "shipway notify" not in jenkinsfile      # no gate, nothing to announce
    assert "variable: 'OPS_HOOK'" in render.render_rollback(loaded, "hello")
