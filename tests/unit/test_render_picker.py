"""The rollback picker jobs of a catalog with environments: one per environment, each binding
only its own engine certificate and registry login, its input restricted to the environment's
approval submitter; a catalog without environments keeps its one rollback job (golden files)."""
import os
import xml.etree.ElementTree as ET

import pytest

from pipeline import catalog, render
from pipeline.stages.render import rendered_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOP = catalog.load(os.path.join(ROOT, "tests", "fixtures", "golden", "rollback-environments",
                                 "catalog.yml"))
NASTY = ["it's", 'say "hi"', "back\\slash", "${env.HOME}", "$(id)", "`id`", "]]>", "&amp;",
         "<x/>", "\\u0027", "ünï €"]


def environments_catalog(value="ops", agent="any", host="tcp://prod:2376"):
    return catalog.from_data({
        "version": 1, "name": "shop",
        "environments": {"staging": {},
                         "production": {"docker_host": host, "jenkins": {"credentials": "cert"},
                                        "approval": {"submitter": value}}},
        "services": {"web": {"image": "127.0.0.1:5000/web", "jenkins": {
            "repo": "https://git.example.com/web.git", "agent": agent, "credentials": "reg"},
            "environments": {"production": {"name": "web-prod"}}}}}, "shop.yml")


def test_one_rollback_job_per_environment_in_promotion_order():
    assert [(i.path, i.kind) for i in render.desired_items(SHOP)] == [
        ("shop", "folder"), ("shop/web", "pipeline"),
        ("shop/web-rollback-staging", "rollback"), ("shop/web-rollback-production", "rollback")]


def test_each_job_binds_only_its_own_environments_credentials():
    staging = render.render_rollback(SHOP, "web", "staging")
    production = render.render_rollback(SHOP, "web", "production")
    assert "staging-registry" in staging and "prod" not in staging.replace("production", "")
    assert "prod-registry" in production and "prod-swarm" in production
    assert "staging-registry" not in production
    assert "DOCKER_TLS_VERIFY = '1'" in production and "DOCKER_TLS_VERIFY" not in staging
    assert "submitter: 'ops,release-managers'," in production
    assert "submitter:" not in staging.replace("submitterParameter:", "")
    # The environment's service name and keys: production's timeout, staging's name.
    assert "--service web --timeout 300s " in production
    assert "--service web-staging --timeout 90s " in staging


def test_the_picker_job_has_no_build_parameters_the_input_asks():
    root = ET.fromstring(render.render_job_config(SHOP, "web", "rollback",
                                                  environment="production"))
    assert root.find("properties/hudson.model.ParametersDefinitionProperty") is None
    assert root.find("definition/script").text == \
        render.render_rollback(SHOP, "web", "production")
    assert render.owner_of(ET.tostring(root, encoding="unicode")) == "shop"


def test_render_names_a_file_per_environment():
    class Args:
        what, service, catalog_path, script_path = "rollback", "web", None, None
    assert [name for name, _ in rendered_files(SHOP, Args)] == [
        "rollback-staging.Jenkinsfile", "rollback-production.Jenkinsfile"]
    Args.what = "job-config"
    assert [name for name, _ in rendered_files(SHOP, Args)] == [
        "folder-shop.config.xml", "web.config.xml", "web-rollback-staging.config.xml",
        "web-rollback-production.config.xml"]


@pytest.mark.parametrize("value", NASTY)
def test_every_nasty_value_stays_a_groovy_literal(value):
    cat = environments_catalog(value=value, agent=value, host="tcp://" + value)
    script = render.render_rollback(cat, "web", "production")
    for rendered in (f"submitter: {render.groovy_string(value)},",
                     f"agent {{ label {render.groovy_string(value)} }}",
                     f"DOCKER_HOST = {render.groovy_string('tcp://' + value)}"):
        assert rendered in script
    xml = render.render_job_config(cat, "web", "rollback", environment="production")
    assert ET.fromstring(xml).find("definition/script").text == script
