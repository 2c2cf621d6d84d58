"""pipeline.delivery: the stages a rendered Jenkinsfile delivers a build through the catalog's
environments with, what each binds, its milestones and gates; and what render makes of them."""
import os
import re

import pytest
import yaml

from pipeline import catalog, delivery, render

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "golden")
BASE = ["--catalog", "shipway.yml", "--service", "hello"]


def three():
    return catalog.load(os.path.join(GOLDEN, "three-environments", "catalog.yml"))


def make(environments, jenkins=None, service_envs=None):
    entry = {"image": "127.0.0.1:5000/x/hello",
             "jenkins": {"repo": "https://git.example.com/x.git", **(jenkins or {})}}
    if service_envs:
        entry["environments"] = service_envs
    return catalog.from_data({"version": 1, "name": "t", "environments": environments,
                              "services": {"hello": entry}}, "t.yml")


def ids(bindings):
    return [(symbol, credentials_id, tuple(variables.values()))
            for symbol, credentials_id, variables in bindings]


@pytest.mark.parametrize("seconds, expected", [
    (86400, (1, "DAYS")), (2 * 86400, (2, "DAYS")), (4 * 3600, (4, "HOURS")),
    (90 * 60, (90, "MINUTES")), (3600 + 1, (3601, "SECONDS")), (1, (1, "SECONDS")),
    (1.5, (2, "SECONDS")), (86400 + 3600, (25, "HOURS"))])
def test_timeout_arg_is_the_largest_whole_unit_never_shorter(seconds, expected):
    assert delivery.timeout_arg(seconds) == expected


def test_three_environments_deploy_then_promote_each_after_its_gate():
    dev, staging, production = delivery.targets(three(), "hello", BASE)
    assert [t.stage for t in (dev, staging, production)] == [
        "Deploy to dev", "Promote to staging", "Promote to production"]
    assert dev.command == ["shipway", "deploy", *BASE, "--environment", "dev", "--json"]
    assert dev.source is None and dev.gate is None
    assert staging.command == ["shipway", "promote", *BASE, "--from", "dev", "--to", "staging",
                               "--expect-record", "shipway-deploy-dev.json", "--json"]
    assert production.command[-7:] == ["--from", "staging", "--to", "production",
                                       "--expect-record", "shipway-promote-staging.json",
                                       "--json"]
    assert staging.status_command == ["shipway", "status", *BASE, "--environment", "staging",
                                      "--json"]
    assert (staging.record, staging.status) == ("shipway-promote-staging.json",
                                                "shipway-status-staging.json")
    gate = production.gate
    assert (gate.stage, gate.submitter, gate.time, gate.unit) == (
        "Approve production", "ops,release-managers", 1, "DAYS")
    assert (staging.gate.submitter, staging.gate.time, staging.gate.unit) == ("qa", 4, "HOURS")
    assert gate.variable == production.approved_by == "SHIPWAY_APPROVED_BY_PRODUCTION"


def test_each_record_goes_on_to_the_promote_after_it():
    """A promote passes the record of this build's stage into its source (--expect-record),
    unstashed from where that stage stashed it; the last stage's record goes nowhere."""
    dev, staging, production = delivery.targets(three(), "hello", BASE)
    assert (dev.stash, staging.stash, production.stash) == (
        "shipway-record-dev", "shipway-record-staging", None)
    assert (staging.expects, staging.expects_stash) == ("shipway-deploy-dev.json",
                                                        "shipway-record-dev")
    assert (production.expects, production.expects_stash) == (
        "shipway-promote-staging.json", "shipway-record-staging")
    assert dev.expects is None and dev.expects_stash is None
    text = render.render_jenkinsfile(three(), "hello")
    # stashed after the command succeeded, before the milestone the next gate follows
    for target in (dev, staging):
        line = (f"stash name: '{target.stash}', includes: '{target.record}'")
        assert text.index(target.record + "'\n") < text.index(line) < \
            text.index(f"label: '{target.next.label}'")
        assert text.count(line) == 1
    for target in (staging, production):
        assert text.count(f"unstash '{target.expects_stash}'") == 1
        assert text.index(f"unstash '{target.expects_stash}'") < \
            text.index(f"--expect-record {target.expects} --json > {target.record}")


def test_one_environment_stashes_nothing():
    (only,) = delivery.targets(make({"prod": None}), "hello", BASE)
    assert only.stash is None and only.next is None
    assert "stash name: 'shipway-record" not in render.render_jenkinsfile(
        make({"prod": None}, {"deploy_branches": ["main"]}), "hello")


def test_milestones_increase_one_before_and_one_after_each_gate():
    dev, staging, production = delivery.targets(three(), "hello", BASE)
    order = [dev.first, dev.next, staging.gate.passed, staging.next, production.gate.passed]
    assert [m.ordinal for m in order] == [1, 2, 3, 4, 5]
    assert production.next is None and staging.first is None and production.first is None
    assert [m.label for m in order] == ["deploy to dev", "before staging", "staging approved",
                                        "before production", "production approved"]


def test_each_stage_binds_its_own_environment_and_a_promote_its_source_too():
    dev, staging, production = delivery.targets(three(), "hello", BASE)
    token = ("string", "prometheus-token", ("SHIPWAY_PROMETHEUS_TOKEN",))
    assert ids(dev.bindings) == [
        ("dockerCert", "dev-swarm", ("DOCKER_CERT_PATH_DEV",)),
        ("usernamePassword", "registry-creds",
         ("SHIPWAY_REGISTRY_USER_DEV", "SHIPWAY_REGISTRY_PASSWORD_DEV")), token]
    # production's own registry login (its service entry overrides jenkins.credentials)
    assert ids(production.bindings) == [
        ("dockerCert", "staging-swarm", ("DOCKER_CERT_PATH_STAGING",)),
        ("usernamePassword", "registry-creds",
         ("SHIPWAY_REGISTRY_USER_STAGING", "SHIPWAY_REGISTRY_PASSWORD_STAGING")),
        ("dockerCert", "production-swarm", ("DOCKER_CERT_PATH_PRODUCTION",)),
        ("usernamePassword", "prod-registry",
         ("SHIPWAY_REGISTRY_USER_PRODUCTION", "SHIPWAY_REGISTRY_PASSWORD_PRODUCTION")), token]
    assert not any("DEV" in v for _, _, vs in ids(production.bindings) for v in vs)
    assert ids(production.status_bindings) == [
        ("dockerCert", "production-swarm", ("DOCKER_CERT_PATH_PRODUCTION",))]
    assert production.tls == ["DOCKER_TLS_VERIFY_STAGING", "DOCKER_TLS_VERIFY_PRODUCTION"]
    assert dev.tls == ["DOCKER_TLS_VERIFY_DEV"]


def test_an_environment_without_approval_or_certificate():
    cat = make({"dev": None, "qa": {"jenkins": {"credentials": "qa-swarm"}}, "prod": None})
    dev, qa, prod = delivery.targets(cat, "hello", BASE)
    assert qa.gate is None and qa.approved_by is None
    # No gate: the "after" milestone is passed as the promote starts.
    assert [dev.first.ordinal, dev.next.ordinal, qa.first.ordinal, qa.next.ordinal,
            prod.first.ordinal] == [1, 2, 3, 4, 5]
    assert dev.bindings == [] and dev.tls == []
    assert ids(prod.bindings) == [("dockerCert", "qa-swarm", ("DOCKER_CERT_PATH_QA",))]
    assert prod.tls == ["DOCKER_TLS_VERIFY_QA"]
    assert not delivery.has_gate([dev, qa, prod])


def test_hyphenated_environment_names_give_variable_suffixes():
    cat = make({"eu-west": {"jenkins": {"credentials": "c1"}},
                "eu-prod": {"approval": {"submitter": "ops"}}})
    first, second = delivery.targets(cat, "hello", BASE)
    assert ids(first.bindings) == [("dockerCert", "c1", ("DOCKER_CERT_PATH_EU_WEST",))]
    assert second.gate.variable == "SHIPWAY_APPROVED_BY_EU_PROD"
    assert (second.gate.time, second.gate.unit) == (1, "DAYS")   # the catalog's default


def test_a_gate_without_submitter_renders_none():
    cat = make({"a": None, "b": {"approval": {"timeout": "10m"}}})
    text = render.render_jenkinsfile(cat, "hello")
    approve = text[text.index("stage('Approve b')"):text.index("stage('Promote to b')")]
    assert "submitter " not in approve.replace("submitterParameter", "")
    assert "timeout(time: 10, unit: 'MINUTES')" in approve
    assert "submitterParameter 'SHIPWAY_APPROVED_BY'" in approve


# ---------------------------------------------------------------------------- rendered

def test_rendered_pipeline_has_no_concurrency_lock_where_a_gate_exists():
    text = render.render_jenkinsfile(three(), "hello")
    assert "disableConcurrentBuilds" not in text.replace(
        "No disableConcurrentBuilds()", "")
    assert re.search(r"^    agent none$", text, re.M)
    job = render.render_job_config(three(), "hello", "pipeline")
    assert "DisableConcurrentBuildsJobProperty" not in job
    assert "BuildDiscarderProperty" in job


def test_environments_without_gates_keep_one_build_at_a_time():
    cat = make({"a": None, "b": None})
    assert "        disableConcurrentBuilds()\n" in render.render_jenkinsfile(cat, "hello")
    assert "DisableConcurrentBuildsJobProperty" in render.render_job_config(cat, "hello",
                                                                           "pipeline")


def test_a_pipeline_that_never_deploys_has_no_delivery():
    cat = make({"a": None, "b": {"approval": {"submitter": "ops"}}}, {"deploy_branches": []})
    text = render.render_jenkinsfile(cat, "hello")
    assert "this pipeline never deploys" in text and "input {" not in text
    assert "disableConcurrentBuilds()" in text


def test_approval_stages_hold_no_agent_and_ask_before_anything_else():
    text = render.render_jenkinsfile(three(), "hello")
    for name in ("staging", "production"):
        approve = text[text.index(f"stage('Approve {name}')"):
                       text.index(f"stage('Promote to {name}')")]
        lines = [line.strip() for line in approve.splitlines()]
        assert "agent none" in lines
        # when (beforeInput) -> options (timeout) -> input, and no steps needing a node.
        assert lines.index("beforeInput true") < lines.index("input {")
        assert "sh " not in approve and "withCredentials" not in approve


def test_submitters_and_credentials_are_groovy_literals():
    cat = make({"a": {"jenkins": {"credentials": "a-cert"}},
                "b": {"approval": {"submitter": "o'p$s, ${x}"}}})
    text = render.render_jenkinsfile(cat, "hello")
    assert "submitter 'o\\'p$s,${x}'" in text
    assert "dockerCert(credentialsId: 'a-cert', variable: 'DOCKER_CERT_PATH_A')" in text


def test_readme_shows_the_jenkinsfile_a_two_environment_catalog_gets():
    """README's "The Jenkinsfile a user gets": its catalog is the golden one's environments,
    its Jenkinsfile excerpt is what that catalog renders, verbatim."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    section = readme.split("### The Jenkinsfile a user gets\n", 1)[1].split("\n### ", 1)[0]
    (shown_yaml,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    (shown_groovy,) = re.findall(r"```groovy\n(.*?)```", section, re.S)
    path = os.path.join(GOLDEN, "two-environments", "catalog.yml")
    with open(path, encoding="utf-8") as handle:
        golden_catalog = yaml.safe_load(handle)
    assert yaml.safe_load(shown_yaml) == {"environments": golden_catalog["environments"]}
    rendered = render.render_jenkinsfile(catalog.load(path), "hello")
    assert shown_groovy in rendered and shown_groovy.startswith("        stage('Approve")
