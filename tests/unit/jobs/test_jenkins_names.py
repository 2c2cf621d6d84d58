"""Catalog input Jenkins would refuse or lose: duplicate keys, item names, credentials ids;
and names with upper case and '_' (stack services are <stack>_<svc>) rendered as jobs."""
import pytest

from pipeline import catalog, render
from pipeline.cli import main
from pipeline.errors import EXIT_USAGE, CatalogError
from pipeline.jobs import names, xmlnorm

GOOD = """\
services:
  web:
    image: 127.0.0.1:5000/web
    jenkins: {folder: team, repo: https://git.example.com/web.git}
"""


def write(tmp_path, text):
    path = tmp_path / "shipway.yml"
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------------------- duplicate keys

@pytest.mark.parametrize("text, key, first, second", [
    (GOOD + "  web:\n    image: 127.0.0.1:5000/other\n", "web", 2, 5),
    (GOOD.replace("jenkins:", "image: r/again\n    jenkins:"), "image", 3, 4),
    (GOOD.replace("folder: team,", "folder: team, folder: x,"), "folder", 4, 4),
    ("version: 1\n" + GOOD + "version: 1\n", "version", 1, 6),
])
def test_a_duplicate_key_anywhere_is_refused_with_both_lines(tmp_path, text, key, first, second):
    with pytest.raises(CatalogError) as info:
        catalog.load(write(tmp_path, text))
    message = str(info.value)
    assert f"duplicate key {key!r}: first at line {first}, again at line {second}" in message
    assert "\n" not in message and info.value.exit_code == EXIT_USAGE


def test_merge_keys_may_still_be_overridden(tmp_path):
    text = ("defaults: &d {jenkins: {folder: team}}\nservices:\n"
            "  web: {<<: *d, image: r/web, jenkins: {folder: other, repo: x}}\n")
    loaded = catalog.load(write(tmp_path, text))
    assert loaded.services["web"]["jenkins"]["folder"] == "other"


def test_duplicate_service_exits_2_and_changes_nothing(tmp_path, capsys):
    path = write(tmp_path, GOOD + "  web:\n    image: r/x\n")
    out_dir = tmp_path / "out"
    code = main(["render", "job-config", "--catalog", path, "--service", "web",
                 "-o", str(out_dir)], environ={})
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "duplicate key 'web': first at line 2, again at line 5" in err
    assert not out_dir.exists()


# ---------------------------------------------------------------------------- item names

@pytest.mark.parametrize("name, words", [
    ("team.", "ending in '.'"),
    ("..", "the name '..'"),
    (".", "the name '.'"),
    ("te\x85am", "U+0085"),          # C1: Character.isISOControl
    ("te\x7fam", "U+007F"),
    ("a\tb", "U+0009"),
    ("a;b", "';'"),
    ("a%b", "'%'"),
    (" team", "trims"),
    ("", "empty"),
])
def test_names_jenkins_refuses(name, words):
    problem = names.item_name_problem(name)
    assert problem and words in problem


@pytest.mark.parametrize("name", ["team", "Team Shop", "it's", "ünï €", "a.b", "Shop_web-1",
                                  "x" * 200, ".hidden"])
def test_names_jenkins_accepts(name):
    assert names.item_name_problem(name) is None


def _data(**jenkins):
    return {"services": {"web": {"image": "r/web", "jenkins": {
        "folder": "team", "repo": "https://git.example.com/web.git", **jenkins}}}}


@pytest.mark.parametrize("folder, words", [
    ("team./x", "ending in '.'"), ("a//b", "empty"), ("a/\x9bb", "U+009B"),
    ("a/b:c", "':'"),
])
def test_catalog_refuses_folders_jenkins_refuses_naming_the_rule(folder, words):
    with pytest.raises(CatalogError) as info:
        catalog.from_data(_data(folder=folder), "shipway.yml")
    message = str(info.value)
    assert "key 'jenkins.folder'" in message and words in message
    assert "checkGoodName" in message and "\n" not in message


def test_folder_slashes_at_the_ends_are_dropped():
    assert names.check_folder("/team/shop/") == "team/shop"


# ---------------------------------------------------------------------------- scm credentials

def test_scm_credentials_become_the_remote_s_credentials_id(tmp_path):
    text = GOOD.replace("repo:", "scm_credentials: git-web.1, repo:")
    cat = catalog.load(write(tmp_path, text))
    xml = render.render_job_config(cat, "web", "pipeline")
    root = xmlnorm.parse(xml)
    remote = root.find("definition/scm/userRemoteConfigs/hudson.plugins.git.UserRemoteConfig")
    assert [(c.tag, c.text) for c in remote] == [
        ("credentialsId", "git-web.1"), ("url", "https://git.example.com/web.git")]
    # Without it the remote has no credentialsId at all (UserRemoteConfig omits a null id).
    plain = render.render_job_config(catalog.load(write(tmp_path, GOOD)), "web", "pipeline")
    assert "credentialsId" not in plain


@pytest.mark.parametrize("value", ["", "a b", "x'y", "id\n", "ü", 7])
def test_scm_credentials_must_be_a_credentials_id(value):
    with pytest.raises(CatalogError, match="jenkins.scm_credentials.*credentials id"):
        catalog.from_data(_data(scm_credentials=value), "shipway.yml")


# ------------------------------------------------------------------ Prometheus credentials

@pytest.mark.parametrize("key", ["prometheus_credentials", "prometheus_token"])
@pytest.mark.parametrize("value", ["", "a b", "x'y", "id\n", 7])
def test_prometheus_credentials_must_be_credentials_ids(key, value):
    with pytest.raises(CatalogError, match=f"jenkins.{key}.*credentials id"):
        catalog.from_data(_data(**{key: value}), "shipway.yml")


def test_prometheus_login_and_token_together_are_refused():
    with pytest.raises(CatalogError) as info:
        catalog.from_data(_data(prometheus_credentials="p", prometheus_token="t"), "x.yml")
    message = str(info.value)
    assert "key 'jenkins.prometheus_token'" in message and "give one of the two" in message


@pytest.mark.parametrize("key, binding", [
    ("prometheus_credentials", "usernamePassword(credentialsId: 'prom-1',\n"),
    ("prometheus_token", "string(credentialsId: 'prom-1', variable: 'SHIPWAY_PROMETHEUS_TOKEN')")])
def test_prometheus_credential_is_bound_around_deploy_and_rollback_only(key, binding):
    cat = catalog.from_data(_data(credentials="reg", **{key: "prom-1"}), "shipway.yml")
    jenkinsfile = render.render_jenkinsfile(cat, "web")
    push, deploy = jenkinsfile.split("stage('Deploy')")
    assert "prom-1" not in push and "SHIPWAY_PROMETHEUS" not in push
    assert binding in deploy and "credentialsId: 'reg'" in deploy
    status = deploy.split("post {")[1]
    assert "withCredentials" not in status     # status reads the swarm only
    assert binding in render.render_rollback(cat, "web")
    # Only the id is rendered: the values arrive as variables when the step runs.
    assert jenkinsfile.count("prom-1") == 1


# ---------------------------------------------------------------------------- engine-style names

def _catalog(services, name="demo"):
    """A catalog built directly: service names as the engine accepts them (upper case, '_')."""
    resolved = {}
    for service, jenkins in services.items():
        settings = catalog.merge(catalog.DEFAULTS, {"image": "r/x", "jenkins": jenkins})
        settings["name"] = service
        resolved[service] = settings
    return catalog.Catalog("test.yml", resolved, name)


def test_upper_case_and_underscore_names_make_jobs_and_markers():
    cat = _catalog({"Shop_web-1": {"folder": "Team", "repo": "https://g/x.git"}}, "Shop_cat")
    items = {i.path: i for i in render.desired_items(cat)}
    assert list(items) == ["Team", "Team/Shop_web-1", "Team/Shop_web-1-rollback"]
    assert all(render.owner_of(i.config_xml) == "Shop_cat" for i in items.values())
    jenkinsfile = render.render_jenkinsfile(cat, "Shop_web-1")
    assert "'--service' 'Shop_web-1'" in jenkinsfile or "--service Shop_web-1" in jenkinsfile


@pytest.mark.parametrize("services", [
    {"Web": {"folder": "t", "repo": "x"}, "web": {"folder": "t", "repo": "y"}},
    {"a": {"folder": "Team", "repo": "x"}, "b": {"folder": "team", "repo": "y"}},
    {"web": {"repo": "x"}, "web-rollback": {"repo": "y"}},
    {"team": {"repo": "x"}, "b": {"folder": "Team", "repo": "y"}},
])
def test_items_jenkins_would_hold_as_one_are_refused(services):
    with pytest.raises(CatalogError, match="as one item: it compares names without regard"):
        render.desired_items(_catalog(services))
