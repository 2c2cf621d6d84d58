"""pipeline.render_group and `shipway render|jobs --group`: which members a group's pipeline
builds, the jobs' names, a clash with a service's job, hostile values, the CLI."""
import io
import os
import xml.etree.ElementTree as ET

import markupsafe
import pytest

from pipeline import catalog, delivery, render, render_group
from pipeline.cli import main
from pipeline.console import Console
from pipeline.errors import CatalogError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "golden")
NASTY = ["it's", 'say "hi"', "back\\slash", "${env.HOME}", "$(id)", "`id`", "]]>", "&amp;",
         "<x/>", "\\u0027", "ünï €"]


def golden(feature):
    return catalog.load(os.path.join(GOLDEN, feature, "catalog.yml"))


def make(groups, services=None, environments=None):
    data = {"version": 1, "name": "demo", "groups": groups, "services": services or {
        "api": {"image": "127.0.0.1:5000/x/api", "build": "make"},
        "web": {"image": "127.0.0.1:5000/x/web"}}}
    if environments:
        data["environments"] = environments
    return catalog.from_data(data, "test.yml")


def shop(**jenkins):
    return {"shop": {"steps": ["api", "web"], "jenkins": {
        "folder": "team", "repo": "https://git.example.com/shop.git", **jenkins}}}


def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, environ={}, console=Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------- what is built

def test_the_members_the_catalog_builds_in_step_order():
    built = render_group.builds(golden("group"), "shop")
    assert [(b.member, b.service, b.command) for b in built] == [
        ("migrate", "migrate", False), ("worker", "worker", True), ("api", "api", True)]


def test_a_stack_groups_member_is_built_by_the_catalog_service_of_its_name_and_image():
    built = render_group.builds(golden("group-stack"), "shop-stack")
    assert [(b.member, b.service) for b in built] == [("api", "api")]


def test_the_group_pipeline_builds_then_deploys_the_group():
    text = render_group.render_jenkinsfile(golden("group"), "shop")
    stages = [line.strip() for line in text.splitlines() if line.strip().startswith("stage(")]
    assert stages == ["stage('Checkout') {", "stage('Image migrate') {",
                      "stage('Push migrate') {", "stage('Build worker') {",
                      "stage('Image worker') {", "stage('Push worker') {",
                      "stage('Build api') {", "stage('Image api') {", "stage('Push api') {",
                      "stage('Deploy') {"]
    assert "sh 'shipway deploy --catalog shipway.yml --group shop --json > shipway-deploy.json'" \
        in text


def test_a_group_without_builds_only_deploys():
    cat = make(shop(), services={"api": {"image": "127.0.0.1:5000/x/api"},
                                 "web": {"image": "127.0.0.1:5000/x/web"}})
    text = render_group.render_jenkinsfile(cat, "shop")
    assert "stage('Image" not in text and "stage('Deploy')" in text
    assert "with the catalog's images" in text


# ---------------------------------------------------------------------------- environments

def test_each_environment_is_a_deploy_of_the_group_after_its_approval():
    cat = golden("group-environments")
    base = ["--catalog", "shipway.yml", "--group", "shop"]
    targets = delivery.group_targets(cat, "shop", base, cat.group("shop").jenkins)
    assert [t.stage for t in targets] == ["Deploy to dev", "Deploy to staging",
                                          "Deploy to production"]
    assert [t.command[1] for t in targets] == ["deploy"] * 3
    assert targets[1].command == ["shipway", "deploy", *base, "--environment", "staging",
                                  "--json"]
    assert [t.gate and t.gate.stage for t in targets] == [None, "Approve staging",
                                                          "Approve production"]
    assert targets[2].gate.submitter == "ops,release-managers"
    assert targets[1].gate.message == "Deploy group shop to staging?"
    # The service pipeline's milestones: 1 deploy, 2j before gate j, 2j+1 once passed.
    assert [(t.first and t.first.ordinal, t.gate and t.gate.passed.ordinal,
             t.next and t.next.ordinal) for t in targets] == [(1, None, 2), (None, 3, 4),
                                                              (None, 5, None)]
    # Each binds its own environment's certificate and the group's login under its names.
    assert [b[1] for b in targets[2].bindings] == ["production-swarm", "registry-creds",
                                                   "prometheus-login"]
    assert targets[2].bindings[1][2]["usernameVariable"] == "SHIPWAY_REGISTRY_USER_PRODUCTION"
    assert targets[2].approved_by == "SHIPWAY_APPROVED_BY_PRODUCTION"


def test_later_deploys_unstash_the_checkout_and_the_push_records():
    text = render_group.render_jenkinsfile(golden("group-environments"), "shop")
    assert text.count("stash name: 'shipway-pushed', includes: '.shipway/*.push.json'") == 1
    assert text.count("unstash 'shipway-pushed'") == 2
    assert text.count("unstash 'shipway-checkout'") == 2
    assert "        disableConcurrentBuilds()\n" not in text     # approvals: milestones


def test_an_ungated_later_environment_passes_its_own_milestone():
    cat = make(shop(), environments={"a": None, "b": None})
    targets = delivery.group_targets(cat, "shop", [], cat.group("shop").jenkins)
    assert targets[1].gate is None and targets[1].first.ordinal == 3
    text = render_group.render_jenkinsfile(cat, "shop")
    assert "        disableConcurrentBuilds()\n" in text and "stage('Approve" not in text


def test_a_group_that_deploys_from_no_branch_never_deploys():
    text = render_group.render_jenkinsfile(make(shop(deploy_branches=[])), "shop")
    assert "this pipeline never deploys" in text and "shipway deploy" not in text
    assert "stage('Build api')" in text


# ---------------------------------------------------------------------------- jobs

def test_job_names_and_items():
    paths = [(i.path, i.kind, i.group) for i in render_group.desired_items(golden("group"))]
    assert paths == [("shop", "folder", None), ("shop/shop", "pipeline", "shop"),
                     ("shop/shop-rollback", "rollback", "shop")]
    cat = golden("group-environments")
    assert [i.path for i in render_group.desired_items(cat)] == [
        "shop", "shop/releases", "shop/releases/shop", "shop/releases/shop-rollback-dev",
        "shop/releases/shop-rollback-staging", "shop/releases/shop-rollback-production"]


def test_the_pipeline_job_runs_the_groups_jenkinsfile_and_the_rollback_job_asks():
    cat = golden("group")
    pipeline = ET.fromstring(render_group.render_job_config(cat, "shop", "pipeline"))
    assert pipeline.find("definition/scriptPath").text == "shop.Jenkinsfile"
    assert pipeline.find(".//userRemoteConfigs//credentialsId").text == "git-creds"
    assert render.owner_of(ET.tostring(pipeline, encoding="unicode")) == "shop"
    rollback = ET.fromstring(render_group.render_job_config(cat, "shop", "rollback"))
    assert rollback.find("definition/script").text == render_group.render_rollback(cat, "shop")
    assert rollback.find(".//hudson.model.ParametersDefinitionProperty") is None


def test_groups_and_services_share_a_catalog():
    services = {"api": {"image": "127.0.0.1:5000/x/api", "build": "make",
                        "jenkins": {"folder": "team", "repo": "https://git.example.com/a.git"}},
                "web": {"image": "127.0.0.1:5000/x/web"}}
    paths = [i.path for i in render_group.desired_items(make(shop(), services))]
    assert paths == ["team", "team/api", "team/api-rollback", "team/shop",
                     "team/shop-rollback"]


@pytest.mark.parametrize("group, folder", [("api", "team"), ("API", "team"),
                                           ("api-rollback", "team"), ("team", None)])
def test_a_groups_job_at_a_services_jobs_name_is_refused(group, folder):
    services = {"api": {"image": "127.0.0.1:5000/x/api",
                        "jenkins": {"folder": "team", "repo": "https://git.example.com/a.git"}},
                "web": {"image": "127.0.0.1:5000/x/web"}}
    jenkins = {"repo": "https://git.example.com/shop.git", **({"folder": folder} if folder
                                                               else {})}
    cat = make({group: {"steps": ["api", "web"], "jenkins": jenkins}}, services)
    with pytest.raises(CatalogError, match="would be one Jenkins item") as caught:
        render_group.desired_items(cat)
    assert f"group {group}" in str(caught.value) and "\n" not in str(caught.value)


def test_the_clash_is_bad_input_for_jobs_and_nothing_is_asked_of_jenkins(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("version: 1\nservices:\n  api:\n    image: 127.0.0.1:5000/x/api\n"
                    "    jenkins: {repo: https://git.example.com/a.git}\n"
                    "groups:\n  api-rollback:\n    steps: [api]\n"
                    "    jenkins: {repo: https://git.example.com/b.git}\n")
    code, out, err = _cli(["jobs", "sync", "--catalog", str(path), "--jenkins-url",
                           "http://127.0.0.1:9/"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert ("the pipeline job of group api-rollback and the rollback job of service api "
            "would be one Jenkins item, 'api-rollback'") in err


def test_a_group_without_repo_gets_no_jobs():
    cat = make({"shop": {"steps": ["api", "web"], "jenkins": {"folder": "team"}}})
    assert render_group.desired_items(cat) == []
    with pytest.raises(CatalogError, match="its jobs need jenkins.repo"):
        render_group.render_job_config(cat, "shop", "pipeline")


def test_group_jenkins_gets_a_services_defaults():
    jenkins = make(shop()).group("shop").jenkins
    assert (jenkins["branch"], jenkins["deploy_branches"], jenkins["agent"],
            jenkins["timeout_minutes"]) == ("main", ["main"], "any", 30)
    assert make({"shop": {"steps": ["api"]}}).group("shop").jenkins == {}
    with pytest.raises(CatalogError, match="groups.shop.jenkins.prometheus_token"):
        make(shop(prometheus_credentials="a", prometheus_token="b"))


@pytest.mark.parametrize("feature", sorted(
    f for f in os.listdir(GOLDEN) if not f.startswith("group")
    and os.path.isfile(os.path.join(GOLDEN, f, "catalog.yml"))) + ["example"])
def test_a_catalog_without_groups_provisions_what_it_did(feature):
    path = os.path.join(ROOT, "examples", "catalog.yml") if feature == "example" else \
        os.path.join(GOLDEN, feature, "catalog.yml")
    cat = catalog.load(path)
    assert render_group.desired_items(cat) == render.desired_items(cat)


# ---------------------------------------------------------------------------- hostile values

@pytest.mark.parametrize("key", ["repo", "branch", "credentials", "agent", "scm_credentials",
                                 "deploy_branches", "prometheus_token"])
def test_hostile_jenkins_values_stay_data(key):
    """Each value reaches the Groovy of both scripts as a literal and config.xml as text, or
    is refused naming the key: swapped for a benign one in its escaped forms, every file is
    the benign one's."""
    def files(value):
        jenkins = {key: [value] if key == "deploy_branches" else value}
        cat = make(shop(**jenkins))
        out = {"pipeline": render_group.render_jenkinsfile(cat, "shop"),
               "rollback": render_group.render_rollback(cat, "shop")}
        out.update({i.path: i.config_xml for i in render_group.desired_items(cat)})
        return out

    baseline = files("benign-17")
    checked = 0
    for value in NASTY:
        try:
            rendered = files(value)
        except CatalogError as exc:
            assert key in str(exc.context.get("key")), exc
            continue
        for name, text in rendered.items():
            if name not in ("pipeline", "rollback"):
                ET.fromstring(text)
            for form in (lambda v: str(render.xml_text(render.groovy_string(v))),
                         lambda v: str(markupsafe.escape(v)), render.groovy_string):
                text = text.replace(form(value), form("benign-17"))
            assert text == baseline[name], (key, value, name)
        checked += 1
    assert checked or key in ("scm_credentials", "prometheus_token")   # ids: [A-Za-z0-9_.-]


# ---------------------------------------------------------------------------- CLI

def test_cli_renders_a_groups_files(tmp_path):
    path = os.path.join(GOLDEN, "group-environments", "catalog.yml")
    for what in ("jenkinsfile", "rollback", "job-config"):
        code, out, err = _cli(["render", what, "--catalog", path, "--group", "shop", "-o",
                               str(tmp_path)])
        assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == sorted(
        n for n in os.listdir(os.path.join(GOLDEN, "group-environments"))
        if n != "catalog.yml")


@pytest.mark.parametrize("argv, words", [
    (["--group", "shop", "--service", "api"], "give --service NAME or --group NAME"),
    ([], "give --service NAME or --group NAME"),
    (["--group", "nope"], "no group 'nope' in the catalog (groups: shop)"),
])
def test_cli_group_usage_errors(argv, words):
    path = os.path.join(GOLDEN, "group", "catalog.yml")
    code, out, err = _cli(["render", "rollback", "--catalog", path] + argv)
    assert code == 2 and out == "" and words in err
    assert len(err.strip().splitlines()) == 1


def test_cli_catalog_path_reaches_both_of_a_groups_scripts():
    path = os.path.join(GOLDEN, "group", "catalog.yml")
    for what in ("jenkinsfile", "rollback", "job-config"):
        code, out, err = _cli(["render", what, "--catalog", path, "--group", "shop",
                               "--catalog-path", "ci/shipway.yml"])
        assert code == 0, err
        assert "--catalog ci/shipway.yml --group shop" in out.replace("&#x27;", "'")
        assert "--catalog shipway.yml" not in out
    code, _, err = _cli(["render", "rollback", "--catalog", path, "--group", "shop",
                         "--catalog-path", ""])
    assert code == 2 and "must not be empty" in err


def test_a_group_deploy_binds_its_members_webhooks_once_each():
    hook = {"webhook_env": "OPS_HOOK", "credentials": "ops-hook"}
    services = {"api": {"image": "127.0.0.1:5000/x/api", "build": "make", "notify": [hook]},
                "web": {"image": "127.0.0.1:5000/x/web",
                        "notify": [hook, {"webhook_env": "WEB_HOOK", "credentials": "web"}]}}
    text = render_group.render_jenkinsfile(make(shop(), services), "shop")
    deploy = text[text.index("stage('Deploy')"):]
    assert deploy.count("string(credentialsId: 'ops-hook', variable: 'OPS_HOOK')") == 1
    assert "string(credentialsId: 'web', variable: 'WEB_HOOK')" in deploy
    assert "OPS_HOOK" not in text[:text.index("stage('Deploy')")]   # not around the pushes
    envs = render_group.render_jenkinsfile(make(shop(), services, {"a": None, "b": None}),
                                           "shop")
    assert envs.count("string(credentialsId: 'ops-hook', variable: 'OPS_HOOK')") == 2


WAITING_HOOK = {"webhook_env": "OPS_HOOK", "credentials": "ops-hook", "format": "slack",
                "on": ["failed", "approval-waiting"]}
LOG_HOOK = {"webhook_env": "LOG_HOOK", "credentials": "log-hook", "on": ["deployed"]}


def gated(web_notify, production=None):
    """Group shop through staging and production (approval): api notifies the log, web
    `web_notify`; `production`: web's own keys there."""
    services = {"api": {"image": "127.0.0.1:5000/x/api", "build": "make", "notify": [LOG_HOOK]},
                "web": {"image": "127.0.0.1:5000/x/web", "notify": web_notify}}
    if production is not None:
        services["web"]["environments"] = {"production": production}
    return make(shop(), services, {"staging": None,
                                   "production": {"approval": {"submitter": "ops"}}})


def test_a_group_gate_some_members_webhook_listens_for_is_announced_by_the_stage_before():
    base = ["--catalog", "shipway.yml", "--group", "shop"]
    staging, production = render_group.jenkinsfile_values(gated([WAITING_HOOK]), "shop",
                                                          "shipway.yml")["targets"]
    assert staging.announce == ["shipway", "notify", *base, "--event", "approval-waiting",
                                "--environment", "production"]
    # only the webhooks told approval-waiting are bound around it (the log's is not)
    assert staging.announce_bindings == [("string", "ops-hook", {"variable": "OPS_HOOK"})]
    assert production.announce is None
    text = render_group.render_jenkinsfile(gated([WAITING_HOOK]), "shop")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "shipway notify" in line)
    assert "milestone(ordinal: 2, label: 'before production')" in lines[at - 2]
    assert lines[at - 1].strip() == \
        "withCredentials([string(credentialsId: 'ops-hook', variable: 'OPS_HOOK')]) {"
    assert lines[at].strip() == ("sh 'shipway notify --catalog shipway.yml --group shop "
                                 "--event approval-waiting --environment production'")
    assert text.count("shipway notify") == 1
    assert text.index("stage('Deploy to staging')") < text.index("shipway notify") \
        < text.index("stage('Approve production')")


def test_no_group_announcement_where_no_member_listens_in_the_gated_environment():
    quiet = {**WAITING_HOOK, "on": ["failed"]}
    assert "shipway notify" not in render_group.render_jenkinsfile(gated([quiet]), "shop")
    # the gated environment's own lists decide: web's there listens
    staging, _ = render_group.jenkinsfile_values(
        gated([quiet], production={"notify": [{**WAITING_HOOK, "webhook_env": "PAGER",
                                               "credentials": "pager"}]}),
        "shop", "shipway.yml")["targets"]
    assert staging.announce_bindings == [("string", "pager", {"variable": "PAGER"})]
    # no gate, nothing to wait for
    ungated = make(shop(), {"web": {"image": "127.0.0.1:5000/x/web", "notify": [WAITING_HOOK]},
                            "api": {"image": "127.0.0.1:5000/x/api"}}, {"a": None, "b": None})
    assert "shipway notify" not in render_group.render_jenkinsfile(ungated, "shop")


def test_no_webhook_url_in_a_groups_rendered_files():
    url = {"webhook": "https://hooks.example/services/T0/B0/sekrit-token",
           "on": ["approval-waiting"]}
    loaded = gated([WAITING_HOOK, url])
    rendered = [render_group.render_jenkinsfile(loaded, "shop")] + [
        render_group.render_rollback(loaded, "shop", env) for env in loaded.environments] + [
        item.config_xml for item in render_group.group_items(loaded, "shop")]
    assert "shipway notify" in rendered[0]
    for text in rendered:
        assert "sekrit" not in text and "hooks.example" not in text
