"""`shipway jobs sync|diff|list` with a catalog group that has jenkins.repo, against the Jenkins
double (python-jenkins over real HTTP, no lab): the group's pipeline job and rollback job are
provisioned beside the services' (`<folder>/<group>`, `<folder>/<group>-rollback`, with
environments `<folder>/<group>-rollback-<env>` each), a second sync writes nothing, what the
catalog no longer has is pruned, and a group job at a service job's name is bad input before
Jenkins is asked anything.
"""
import json
import xml.etree.ElementTree as ET

from pipeline import catalog as catalogs
from pipeline import render, render_group
from pipeline.jobs import xmlnorm
from tests.integration.test_jobs_sync import (  # noqa: F401 (fixtures)
    PIPELINE_CLASS,
    double,
    fast_retries,
    shipway,
)

CATALOG = """\
version: 1
name: shop
services:
  migrate:
    image: 127.0.0.1:5000/shop/migrate
    context: migrate
    deploy: {mode: replicated-job}
  api:
    image: 127.0.0.1:5000/shop/api
    build: make api
    jenkins: {folder: shop, repo: https://git.example.com/api.git}
  web:
    image: 127.0.0.1:5000/shop/web
    context: web
groups:
  release:
    steps: [migrate, api, web]
    jenkins: {folder: shop, repo: https://git.example.com/monorepo.git, credentials: reg}
"""
ITEMS = ["shop", "shop/api", "shop/api-rollback", "shop/release", "shop/release-rollback"]
ENVIRONMENTS = """\
environments:
  staging: {docker_host: 'unix:///var/run/docker.sock'}
  production:
    docker_host: tcp://prod-manager:2376
    approval: {submitter: ops}
"""


def write(tmp_path, text):
    path = tmp_path / "shop.yml"
    path.write_text(text)
    return path


def rendered(path):
    return {i.path: i for i in render_group.desired_items(catalogs.load(str(path)))}


def test_sync_provisions_the_groups_jobs_beside_the_services(double, tmp_path):  # noqa: F811
    path = write(tmp_path, CATALOG)
    run = shipway("sync", path, double)
    assert run.code == 0, run.out + run.err
    assert run.summary == "jobs: created 5, updated 0, unchanged 0, pruned 0, failed 0"
    assert double.item_names() == ITEMS
    wanted = rendered(path)
    for item in ITEMS:
        assert xmlnorm.equivalent(double.config_xml(item), wanted[item].config_xml)
        assert render.owner_of(double.config_xml(item)) == "shop"
    assert double.item_class("shop/release") == PIPELINE_CLASS
    job = ET.fromstring(double.config_xml("shop/release"))
    assert job.find("definition/scriptPath").text == "release.Jenkinsfile"
    assert job.find(".//userRemoteConfigs//url").text == "https://git.example.com/monorepo.git"
    script = ET.fromstring(double.config_xml("shop/release-rollback")).find("definition/script")
    assert "shipway releases --catalog shipway.yml --group release --json" in script.text

    # A second sync writes nothing; list names the group of each group job.
    double.clear_requests()
    run = shipway("sync", path, double)
    assert run.summary == "jobs: created 0, updated 0, unchanged 5, pruned 0, failed 0"
    assert double.count("writes") == 0
    rows = json.loads(shipway("list", path, double, "--json").out)
    assert [(r["path"], r["kind"], r["service"], r["group"], r["state"]) for r in rows] == [
        ("shop", "folder", None, None, "present"),
        ("shop/api", "pipeline", "api", None, "present"),
        ("shop/api-rollback", "rollback", "api", None, "present"),
        ("shop/release", "pipeline", None, "release", "present"),
        ("shop/release-rollback", "rollback", None, "release", "present")]
    assert shipway("diff", path, double, "--exit-code").code == 0


def test_with_environments_a_rollback_job_per_environment_and_the_old_one_pruned(
        double, tmp_path):  # noqa: F811
    path = write(tmp_path, CATALOG)
    assert shipway("sync", path, double).code == 0
    path.write_text(CATALOG.replace("services:\n", ENVIRONMENTS + "services:\n", 1))
    diff = shipway("diff", path, double)
    assert "missing: shop/release-rollback-production" in diff.out
    assert "not in the catalog: shop/release-rollback (no longer in the catalog)" in diff.out
    run = shipway("sync", path, double, "--prune")
    assert run.code == 0, run.out + run.err
    names = double.item_names()
    assert "shop/release-rollback" not in names and "shop/api-rollback" not in names
    for name in ("shop/release", "shop/release-rollback-staging",
                 "shop/release-rollback-production", "shop/api-rollback-production"):
        assert name in names
    # The group's pipeline waits for production's approval: builds may run concurrently.
    assert "DisableConcurrentBuildsJobProperty" not in double.config_xml("shop/release")
    script = ET.fromstring(double.config_xml("shop/release-rollback-production")).find(
        "definition/script").text
    assert "submitter: 'ops'" in script and "--environment production" in script


def test_a_group_that_loses_its_repo_loses_its_jobs_with_prune(double, tmp_path):  # noqa: F811
    path = write(tmp_path, CATALOG)
    assert shipway("sync", path, double).code == 0
    path.write_text(CATALOG.replace("    jenkins: {folder: shop, repo: https://git.example.com/"
                                    "monorepo.git, credentials: reg}\n", ""))
    run = shipway("sync", path, double)
    assert "left shop/release: no longer in the catalog (pass --prune to delete it)" in run.err
    run = shipway("sync", path, double, "--prune")
    assert run.summary == "jobs: created 0, updated 0, unchanged 3, pruned 2, failed 0"
    assert double.item_names() == ITEMS[:3]


def test_a_group_job_at_a_service_jobs_name_is_bad_input_and_asks_jenkins_nothing(
        double, tmp_path):  # noqa: F811
    path = write(tmp_path, CATALOG.replace("  release:\n", "  API:\n"))
    run = shipway("sync", path, double)
    assert run.code == 2 and run.out == ""
    assert run.err.count("\n") == 1
    assert ("the pipeline job of group API and the pipeline job of service api would be one "
            "Jenkins item, 'shop/API'") in run.err
    assert double.requests == []
