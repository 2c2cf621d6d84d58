"""`shipway jobs sync|diff|list` against the Jenkins double (python-jenkins over real HTTP).

No lab needed: the double is an in-process HTTP server. The CLI runs in-process through
`pipeline.cli.main`, with its own environment and a console writing to buffers.
"""
import io
import json
import os
import re

import jenkins
import pytest

from pipeline import catalog as catalogs
from pipeline import render
from pipeline.cli import main
from pipeline.console import Console
from pipeline.jobs import client as clientmod
from pipeline.jobs import xmlnorm
from tests.support.jenkins_double import JenkinsDouble

TOKEN = "0123456789abcdef0123456789abcdef"   # long enough to be redacted if it ever leaked
USERS = {"admin": TOKEN, "viewer": "fedcba9876543210fedcba9876543210"}
ENV = {"JENKINS_USER": "admin", "JENKINS_TOKEN": TOKEN}

CATALOG = """\
version: 1
name: demo
services:
  hello:
    image: 127.0.0.1:5000/shipway/hello
    jenkins: {folder: demo, repo: https://git.example.com/hello.git}
  world:
    image: 127.0.0.1:5000/shipway/world
    jenkins: {folder: demo/team, repo: https://git.example.com/world.git}
  api:
    image: 127.0.0.1:5000/shipway/api
    jenkins: {folder: demo/team, repo: https://git.example.com/api.git}
"""
ITEMS = ["demo", "demo/hello", "demo/hello-rollback", "demo/team", "demo/team/api",
         "demo/team/api-rollback", "demo/team/world", "demo/team/world-rollback"]
FOLDER_CLASS = "com.cloudbees.hudson.plugins.folder.Folder"
PIPELINE_CLASS = "org.jenkinsci.plugins.workflow.job.WorkflowJob"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(clientmod, "BACKOFF_INITIAL", 0.01)


@pytest.fixture
def double():
    with JenkinsDouble(users=USERS) as server:
        yield server


@pytest.fixture
def catalog_file(tmp_path):
    path = tmp_path / "demo.yml"
    path.write_text(CATALOG)
    return path


class Run:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    @property
    def summary(self):
        return next(line for line in self.out.splitlines() if line.startswith("jobs"))

    @property
    def failed(self):
        return [line for line in self.out.splitlines() if line.startswith("failed ")]


def shipway(action, catalog_file, double, *extra, env=ENV, url=None):
    out, err = io.StringIO(), io.StringIO()
    argv = ["jobs", action, "--catalog", str(catalog_file)]
    if url is not False:
        argv += ["--jenkins-url", url or double.url]
    code = main(argv + list(extra), environ=dict(env), console=Console(out=out, err=err))
    run = Run(code, out.getvalue(), err.getvalue())
    for secret in USERS.values():  # whatever happened, no token in the output
        assert secret not in run.out and secret not in run.err
    return run


def python_jenkins(double, user="admin"):
    return jenkins.Jenkins(double.url, user, USERS[user])


def rendered(catalog_file):
    return {i.path: i for i in render.desired_items(catalogs.load(str(catalog_file)))}


def test_cold_sync_creates_folders_and_two_jobs_per_service(double, catalog_file):
    run = shipway("sync", catalog_file, double)
    assert run.code == 0, run.out + run.err
    assert run.summary == "jobs: created 8, updated 0, unchanged 0, pruned 0, failed 0"
    assert double.item_names() == ITEMS
    assert double.item_class("demo") == double.item_class("demo/team") == FOLDER_CLASS
    for service in ("demo/hello", "demo/team/world", "demo/team/api"):
        assert double.item_class(service) == PIPELINE_CLASS
        assert double.item_class(service + "-rollback") == PIPELINE_CLASS
    wanted = rendered(catalog_file)
    for path in ITEMS:
        assert xmlnorm.equivalent(double.config_xml(path), wanted[path].config_xml)
        assert render.owner_of(double.config_xml(path)) == "demo"
    # One POST per item, parents first; reads: one listing plus at most one crumb per worker.
    writes = [r for r in double.requests if r.method == "POST"]
    assert len(writes) == 8
    assert writes[0].path == "/createItem?name=demo"
    assert len(double.requests) <= 1 + 8 + 4


def test_second_run_is_a_no_op_without_any_post(double, catalog_file):
    assert shipway("sync", catalog_file, double).code == 0
    double.clear_requests()
    run = shipway("sync", catalog_file, double)
    assert run.code == 0
    assert run.summary == "jobs: created 0, updated 0, unchanged 8, pruned 0, failed 0"
    assert double.count("writes") == 0
    # Reads: one listing, one config.xml per item, at most one crumb per worker.
    assert double.count("reads", r"/config\.xml$") == 8
    assert double.count() <= 1 + 8 + 4


def edit_by_hand(double, path, old, new):
    """A manual change made in Jenkins (python-jenkins POSTing a changed config.xml)."""
    server = python_jenkins(double)
    config = server.get_job_config(path)
    assert old in config
    server.reconfig_job(path, config.replace(old, new))


def test_manual_edit_is_drift_shown_by_diff_and_fixed_by_sync(double, catalog_file):
    shipway("sync", catalog_file, double)
    edit_by_hand(double, "demo/hello", "<numToKeep>30</numToKeep>", "<numToKeep>5</numToKeep>")

    diff = shipway("diff", catalog_file, double)
    assert diff.code == 0
    assert "drift: demo/hello\n" in diff.out
    assert "-        <numToKeep>5</numToKeep>\n+        <numToKeep>30</numToKeep>" in diff.out
    assert diff.out.rstrip().endswith("jobs diff: 1 differ, 7 unchanged, 0 failed")
    assert shipway("diff", catalog_file, double, "--exit-code").code == 1

    listing = json.loads(shipway("list", catalog_file, double, "--json").out)
    states = {row["path"]: row["state"] for row in listing}
    assert states["demo/hello"] == "drifted"
    assert set(states.values()) == {"drifted", "present"}

    double.clear_requests()
    run = shipway("sync", catalog_file, double)
    assert run.code == 0
    assert run.summary == "jobs: created 0, updated 1, unchanged 7, pruned 0, failed 0"
    assert "updated demo/hello (drift" in run.err
    assert [r.path for r in double.requests if r.method == "POST"] == [
        "/job/demo/job/hello/config.xml"]
    assert "<numToKeep>30</numToKeep>" in double.config_xml("demo/hello")
    assert shipway("diff", catalog_file, double, "--exit-code").code == 0


def test_dry_run_prints_diffs_and_writes_nothing(double, catalog_file):
    run = shipway("sync", catalog_file, double, "--dry-run")
    assert run.code == 0
    assert run.summary == ("jobs: created 8, updated 0, unchanged 0, pruned 0, failed 0 "
                           "(dry run: nothing was changed)")
    assert run.out.count("--- /dev/null") == 8
    assert "+++ catalog/demo/team/world/config.xml" in run.out
    assert double.count("writes") == 0 and double.item_names() == []

    shipway("sync", catalog_file, double)
    edit_by_hand(double, "demo/team/api-rollback", "<sandbox>true</sandbox>",
                 "<sandbox>false</sandbox>")
    double.clear_requests()
    run = shipway("sync", catalog_file, double, "--dry-run")
    assert run.code == 0
    assert "--- jenkins/demo/team/api-rollback/config.xml" in run.out
    assert "-    <sandbox>false</sandbox>\n+    <sandbox>true</sandbox>" in run.out
    assert "updated 1" in run.summary
    assert double.count("writes") == 0
    assert "<sandbox>false</sandbox>" in double.config_xml("demo/team/api-rollback")


FOREIGN_JOB = ("<flow-definition plugin='workflow-job'><description>made by hand"
               "</description></flow-definition>")
OTHER_CATALOG_JOB = ("<flow-definition plugin='workflow-job'><description>other\n"
                     "[shipway-catalog=other]</description></flow-definition>")


def test_prune_removes_only_the_jobs_this_catalog_owns(double, catalog_file):
    shipway("sync", catalog_file, double)
    server = python_jenkins(double)
    server.create_job("demo/team/by-hand", FOREIGN_JOB)
    server.create_job("demo/team/theirs", OTHER_CATALOG_JOB)
    server.create_job("toplevel-by-hand", FOREIGN_JOB)
    # api leaves the catalog; hello and world move to folder "moved".
    catalog_file.write_text(CATALOG.replace(
        "  api:\n    image: 127.0.0.1:5000/shipway/api\n"
        "    jenkins: {folder: demo/team, repo: https://git.example.com/api.git}\n", "")
        .replace("folder: demo, repo", "folder: moved, repo")
        .replace("folder: demo/team, repo", "folder: moved, repo"))

    run = shipway("sync", catalog_file, double)  # without --prune: reported, kept
    assert run.code == 0
    assert run.summary == "jobs: created 5, updated 0, unchanged 0, pruned 0, failed 0"
    assert "left demo/team/api: no longer in the catalog (pass --prune to delete it)" in run.err
    assert "demo/team/api" in double.item_names()

    double.clear_requests()
    run = shipway("sync", catalog_file, double, "--prune")
    assert run.code == 0, run.out
    assert run.summary == "jobs: created 0, updated 0, unchanged 5, pruned 6, failed 0"
    names = double.item_names()
    for gone in ("demo/hello", "demo/hello-rollback", "demo/team/api",
                 "demo/team/api-rollback", "demo/team/world", "demo/team/world-rollback"):
        assert gone not in names
    for kept in ("demo/team/by-hand", "demo/team/theirs", "toplevel-by-hand",
                 "moved/hello", "moved/world-rollback"):
        assert kept in names
    assert all(r.path.endswith("/doDelete") for r in double.requests if r.method == "POST")
    # Our folders still hold items that are not ours: deleting them would take those along.
    assert ("left demo/team: folder not pruned: it still holds 2 item(s) this catalog does "
            "not own, e.g. demo/team/by-hand") in run.err
    assert {"demo", "demo/team"} <= set(names)

    run = shipway("sync", catalog_file, double, "--prune")
    assert run.summary == "jobs: created 0, updated 0, unchanged 5, pruned 0, failed 0"


def test_prune_deletes_an_owned_folder_with_all_it_holds(double, catalog_file):
    shipway("sync", catalog_file, double)
    catalog_file.write_text(CATALOG.replace("folder: demo/team", "folder: elsewhere"))
    double.clear_requests()
    run = shipway("sync", catalog_file, double, "--prune", "--dry-run")
    assert "would delete demo/team (no longer in the catalog)" in run.out
    assert "pruned 5" in run.summary and double.count("writes") == 0
    run = shipway("sync", catalog_file, double, "--prune")
    assert run.code == 0, run.out
    assert run.summary == "jobs: created 5, updated 0, unchanged 3, pruned 5, failed 0"
    assert [n for n in double.item_names() if n.startswith("demo/team")] == []


def test_503s_for_the_first_requests_are_retried_through(double, catalog_file):
    double.faults.add(status=503, count=2)
    run = shipway("sync", catalog_file, double)
    assert run.code == 0, run.out
    assert run.summary == "jobs: created 8, updated 0, unchanged 0, pruned 0, failed 0"
    assert [r.status for r in double.requests[:3]] == [503, 503, 200]
    assert run.err.count("retrying") == 2
    assert double.item_names() == ITEMS


def test_connection_resets_are_retried_through(double, catalog_file):
    double.faults.add(reset=True, count=1, method="POST")
    run = shipway("sync", catalog_file, double)
    assert run.code == 0, run.out
    assert double.item_names() == ITEMS


def test_a_create_whose_answer_was_lost_is_not_done_twice(double, catalog_file):
    # createItem takes effect, then the connection drops: the retry must notice the item.
    double.faults.add(reset=True, after=True, count=1, path_regex=r"createItem\?name=hello$")
    run = shipway("sync", catalog_file, double)
    assert run.code == 0, run.out
    assert run.summary == "jobs: created 8, updated 0, unchanged 0, pruned 0, failed 0"
    assert double.item_names() == ITEMS


def test_a_persistent_500_fails_one_job_and_provisions_the_rest(double, catalog_file):
    double.faults.add(status=500, count=1000,
                      path_regex=r"createItem\?name=world$|/job/world/config\.xml")
    run = shipway("sync", catalog_file, double)
    assert run.code == 1
    assert run.summary == "jobs: created 7, updated 0, unchanged 0, pruned 0, failed 1"
    assert len(run.failed) == 1
    assert re.fullmatch(r"failed demo/team/world: Jenkins answered 500 to create "
                        r"demo/team/world: .*Injected fault", run.failed[0])
    assert double.item_names() == [n for n in ITEMS if n != "demo/team/world"]
    assert double.count("writes", r"createItem\?name=world$") == 4  # bounded retries


def test_a_config_that_cannot_be_read_fails_that_job_only(double, catalog_file):
    shipway("sync", catalog_file, double)
    double.faults.add(status=500, count=1000, path_regex=r"/job/hello/config\.xml")
    run = shipway("sync", catalog_file, double)
    assert run.code == 1
    assert run.summary == "jobs: created 0, updated 0, unchanged 7, pruned 0, failed 1"
    assert run.failed[0].startswith(
        "failed demo/hello: Jenkins answered 500 to read demo/hello/config.xml")


def test_a_failed_folder_skips_its_children(double, catalog_file):
    double.faults.add(status=500, count=1000, path_regex=r"createItem\?name=team$")
    run = shipway("sync", catalog_file, double)
    assert run.code == 1
    assert run.summary == "jobs: created 3, updated 0, unchanged 0, pruned 0, failed 5"
    assert "failed demo/team/api: skipped: folder demo/team was not provisioned" in run.failed
    assert double.item_names() == ["demo", "demo/hello", "demo/hello-rollback"]


def test_missing_folder_at_create_time_is_named(double, catalog_file):
    # Jenkins answers 404 to createItem when the folder is gone (deleted meanwhile).
    double.faults.add(status=404, count=1, path_regex=r"job/demo/createItem\?name=hello$")
    run = shipway("sync", catalog_file, double)
    assert run.code == 1
    assert "failed demo/hello: create demo/hello: folder demo does not exist in Jenkins" \
        in run.failed


def test_wrong_token_is_one_clear_line(double, catalog_file):
    run = shipway("sync", catalog_file, double,
                  env={"JENKINS_USER": "admin", "JENKINS_TOKEN": "f" * 32})
    assert run.code == 1
    assert run.err == ("error: Jenkins refused the credentials for user admin (401): "
                       "check JENKINS_USER/JENKINS_TOKEN\n")
    assert double.count("writes") == 0 and len(double.requests) == 1  # 401 is not retried


@pytest.fixture
def readonly_double():
    with JenkinsDouble(users=USERS, readonly_users=["viewer"]) as server:
        yield server


def test_missing_permission_for_a_read_only_user(readonly_double, catalog_file):
    run = shipway("sync", catalog_file, readonly_double,
                  env={"JENKINS_USER": "viewer", "JENKINS_TOKEN": USERS["viewer"]})
    assert run.code == 1
    assert run.failed[0] == ("failed demo: Jenkins denied create demo to user viewer (403): "
                             "is missing the Job/Create permission")
    assert readonly_double.item_names() == []


def test_no_crumb_issuer_but_crumbs_required_is_explained(catalog_file):
    # crumbIssuer answers 404 (python-jenkins then sends no crumb) yet POSTs need one: a
    # Jenkins that wants crumbs from API-token requests too (before 2.96).
    with JenkinsDouble(users=USERS, crumb_exempt_api_tokens=False) as double:
        double.faults.add(status=404, count=1000, path_regex=r"crumbIssuer")
        run = shipway("sync", catalog_file, double)
        writes = double.count("writes")
    assert run.code == 1
    assert run.failed[0].startswith("failed demo: Jenkins refused create demo: no valid "
                                    "CSRF crumb (403): ")
    assert "crumbIssuer/api/json answered 404, so no crumb was sent" in run.failed[0]
    assert writes == 1  # the first refusal stops the rest


def test_jenkins_without_crumbs_works(catalog_file):
    with JenkinsDouble(users=USERS, csrf=False) as server:  # crumbIssuer 404s, no CSRF
        assert shipway("sync", catalog_file, server).code == 0
        assert server.item_names() == ITEMS


def test_api_tokens_exempt_from_crumbs_work_without_an_issuer(catalog_file):
    with JenkinsDouble(users=USERS, crumb_exempt_api_tokens=True) as server:
        server.faults.add(status=404, count=1000, path_regex=r"crumbIssuer")
        assert shipway("sync", catalog_file, server).code == 0
        assert server.item_names() == ITEMS


def test_unreachable_jenkins_is_one_clear_line(double, catalog_file):
    import socket

    with socket.socket() as sock:  # bound, not listening: connection refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        run = shipway("sync", catalog_file, double, url=url)
    assert run.code == 1
    assert run.err.splitlines()[-1] == f"error: cannot reach Jenkins at {url}: Connection refused"


def test_existing_jobs_of_others_at_our_paths_are_not_overwritten(double, catalog_file):
    double.seed("demo", render.render_folder_config(catalogs.load(str(catalog_file)), "demo")
                .replace("shipway-catalog=demo", "shipway-catalog=other"))
    double.seed("demo/hello", OTHER_CATALOG_JOB)
    double.seed("demo/hello-rollback", FOREIGN_JOB)
    others = double.config_xml("demo/hello")
    run = shipway("sync", catalog_file, double)
    assert run.code == 1
    assert run.summary == "jobs: created 5, updated 0, unchanged 1, pruned 0, failed 2"
    assert ("failed demo/hello: demo/hello exists and is owned by catalog 'other': "
            "not overwritten") in run.failed
    assert any("--adopt" in line for line in run.failed)
    assert double.config_xml("demo/hello") == others

    listing = {r["path"]: r for r in json.loads(shipway("list", catalog_file, double,
                                                        "--json").out)}
    assert listing["demo"]["state"] == "owned-by-other"
    assert listing["demo/hello"]["owner"] == "other"

    run = shipway("sync", catalog_file, double, "--adopt")
    assert run.summary == "jobs: created 0, updated 1, unchanged 6, pruned 0, failed 1"
    assert render.owner_of(double.config_xml("demo/hello-rollback")) == "demo"


def test_list_shows_live_state(double, catalog_file):
    shipway("sync", catalog_file, double)
    python_jenkins(double).delete_job("demo/team/api-rollback")
    double.clear_requests()
    run = shipway("list", catalog_file, double)
    assert run.code == 0
    lines = dict(line.split(None, 1) for line in run.out.splitlines())
    assert lines["demo/team/api-rollback"].split() == ["rollback", "missing"]
    assert lines["demo/hello"].split() == ["pipeline", "present"]
    rows = json.loads(shipway("list", catalog_file, double, "--json").out)
    assert rows[0] == {"path": "demo", "kind": "folder", "service": None, "group": None,
                       "state": "present", "owner": "demo", "error": None}
    assert double.count("writes") == 0


def test_deep_folders_beyond_one_listing_request(double, tmp_path):
    deep = tmp_path / "deep.yml"
    deep.write_text(CATALOG.replace("folder: demo/team", "folder: a/b/c/d/e/f"))
    assert shipway("sync", deep, double).code == 0
    double.clear_requests()
    run = shipway("sync", deep, double)
    assert run.summary == "jobs: created 0, updated 0, unchanged 13, pruned 0, failed 0"
    assert double.count("writes") == 0
    assert double.count("reads", r"api/json\?tree=") == 2  # root, then below a/b/c/d


@pytest.mark.parametrize("workers", ["1", "16"])
def test_worker_counts(double, catalog_file, workers):
    assert shipway("sync", catalog_file, double, "--workers", workers).code == 0
    assert double.item_names() == ITEMS


@pytest.mark.parametrize("env,extra,words", [
    ({}, [], "no Jenkins credentials: JENKINS_USER is not set"),
    ({"JENKINS_USER": "admin"}, [], "JENKINS_TOKEN is not set"),
    (ENV, ["--workers", "0"], "must be 1 or more"),
    (ENV, ["--credentials-file", "/nonexistent"], "cannot read --credentials-file"),
])
def test_bad_input_exits_2(double, catalog_file, env, extra, words):
    run = shipway("sync", catalog_file, double, *extra, env=env)
    assert run.code == 2
    assert words in run.err
    assert double.requests == []


def test_url_with_a_token_in_it_is_refused_without_echoing_it(double, catalog_file):
    url = double.url.replace("http://", f"http://admin:{TOKEN}@")
    run = shipway("sync", catalog_file, double, url=url)  # shipway() checks TOKEN is absent
    assert run.code == 2
    assert "must not carry a user or token" in run.err


def test_url_and_credentials_file_from_the_environment(double, catalog_file, tmp_path):
    creds = tmp_path / "creds"
    creds.write_text(f"admin:{TOKEN}\n")
    run = shipway("sync", catalog_file, double, "--credentials-file", str(creds),
                  env={"JENKINS_URL": double.url}, url=False)
    assert run.code == 0
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    run = shipway("list", catalog_file, double, url=False,
                  env={"JENKINS_URL": double.url, "JENKINS_USER": "admin",
                       "JENKINS_TOKEN_FILE": str(token_file)})
    assert run.code == 0


def test_help_of_jobs_sync_needs_no_jenkins():
    """`shipway jobs sync --help` answers without a Jenkins, a URL or credentials. (It
    imports the stage's modules, python-jenkins among them: required dependencies, at module
    level; `shipway --help` alone imports none of them, tests/unit/test_cli_lazy_imports.py.)"""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JENKINS_")}
    out = subprocess.run([sys.executable, "-m", "pipeline", "jobs", "sync", "--help"],
                         capture_output=True, text=True, cwd=root,
                         env={**env, "PYTHONPATH": root}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--jenkins-url" in out.stdout and "--catalog" in out.stdout, out.stdout


# -- a Jenkins that re-serialises what it stores ------------------------------------------

PRIVATE = CATALOG.replace("repo: https://git.example.com/hello.git",
                          "repo: https://git.example.com/hello.git, scm_credentials: git-hello")


@pytest.mark.parametrize("version", ["2.440.3", "2.479.3"])
def test_build_disable_enable_then_a_second_sync_writes_nothing(tmp_path, version):
    """The double stores what Jenkins would (every field, its order, plugin versions; a core
    before 2.474 drops LogRotator.removeLastBuild), a build adds the declarative actions, a
    disable/enable saves the job again: none of it is drift. A hand edit still is."""
    catalog_file = tmp_path / "demo.yml"
    catalog_file.write_text(PRIVATE)
    with JenkinsDouble(users=USERS, version=version) as double:
        assert shipway("sync", catalog_file, double).code == 0
        stored = double.config_xml("demo/hello")
        assert "<credentialsId>git-hello</credentialsId>" in stored
        assert ("<removeLastBuild>false</removeLastBuild>" in stored) == (version >= "2.474")
        server = python_jenkins(double)
        server.build_job("demo/hello")
        server.build_job("demo/hello-rollback", {"RELEASE": "previous"})
        assert double.wait_idle()
        for path in ("demo/hello", "demo/hello-rollback"):
            assert "DeclarativeJobPropertyTrackerAction" in double.config_xml(path)
        server.disable_job("demo/team/api")
        server.enable_job("demo/team/api")

        double.clear_requests()
        run = shipway("sync", catalog_file, double)
        assert run.code == 0, run.out + run.err
        assert run.summary == "jobs: created 0, updated 0, unchanged 8, pruned 0, failed 0"
        assert double.count("writes") == 0
        assert shipway("diff", catalog_file, double, "--exit-code").code == 0

        # A hand edit next to what Jenkins added is reported, and put back.
        edit_by_hand(double, "demo/hello", "<abortPrevious>false", "<abortPrevious>true")
        diff = shipway("diff", catalog_file, double, "--exit-code")
        assert diff.code == 1 and "drift: demo/hello\n" in diff.out
        assert "-      <abortPrevious>true</abortPrevious>" in diff.out
        assert "DeclarativeJobAction" not in diff.out
        run = shipway("sync", catalog_file, double)
        assert run.summary == "jobs: created 0, updated 1, unchanged 7, pruned 0, failed 0"
        assert shipway("diff", catalog_file, double, "--exit-code").code == 0
        # The reconfiguration kept what the declarative build had added.
        assert "DeclarativeJobPropertyTrackerAction" in double.config_xml("demo/hello")


ENGINE_NAME = "Shop_web-1"   # what the engine accepts: stack services are <stack>_<svc>


@pytest.mark.parametrize("service", [
    "web",
    pytest.param(ENGINE_NAME, marks=pytest.mark.skipif(
        not catalogs.SERVICE_NAME.match(ENGINE_NAME),
        reason="the catalog does not take engine service names yet")),
])
def test_names_jenkins_accepts_are_synced_and_found_again(tmp_path, double, service):
    catalog_file = tmp_path / "names.yml"
    catalog_file.write_text(f"""\
name: names
services:
  {service}:
    image: 127.0.0.1:5000/shipway/web
    jenkins: {{folder: "Shop Team/it's ünï", repo: https://git.example.com/web.git}}
""")
    run = shipway("sync", catalog_file, double)
    assert run.code == 0, run.out + run.err
    assert double.item_names() == ["Shop Team", "Shop Team/it's ünï",
                                   f"Shop Team/it's ünï/{service}",
                                   f"Shop Team/it's ünï/{service}-rollback"]
    double.clear_requests()
    assert shipway("sync", catalog_file, double).summary == (
        "jobs: created 0, updated 0, unchanged 4, pruned 0, failed 0")
    assert double.count("writes") == 0
    assert python_jenkins(double).job_exists(f"Shop Team/it's ünï/{service}")
