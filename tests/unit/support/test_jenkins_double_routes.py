"""Unit tests for the Jenkins double's route table, tree filter and filter chain.

No sockets: requests go straight through ``server.process``.
"""

from __future__ import annotations

import base64
import re

import pytest

from tests.support.jenkins_double import ROUTES, JenkinsDouble, console
from tests.support.jenkins_double import handlers_builds as builds
from tests.support.jenkins_double import handlers_items as items
from tests.support.jenkins_double import handlers_system as system
from tests.support.jenkins_double.exported import (
    Exported,
    Prop,
    TreeSyntaxError,
    parse_tree,
    render,
)
from tests.support.jenkins_double.routes import match
from tests.support.jenkins_double.security import PERMISSIONS, READ_ONLY
from tests.support.jenkins_double.server import process

FOLDER_XML = ("<com.cloudbees.hudson.plugins.folder.Folder>"
              "</com.cloudbees.hudson.plugins.folder.Folder>")
PIPELINE_XML = "<flow-definition><description>d</description></flow-definition>"

# (method, path, expected handler or status, expected named groups)
ROUTING_TABLE = [
    ("GET", "", system.root_page, {}),
    ("HEAD", "", system.root_page, {}),
    ("GET", "api/json", system.root_api, {}),
    ("GET", "crumbIssuer/api/json", system.crumb_issuer, {}),
    ("GET", "whoAmI/api/json", system.who_am_i, {}),
    ("GET", "me/api/json", system.me, {}),
    ("GET", "pluginManager/api/json", system.plugin_manager, {}),
    ("GET", "queue/api/json", builds.queue_api, {}),
    ("GET", "queue/item/12/api/json", builds.queue_item_api, {"queue_item": "12"}),
    ("POST", "queue/cancelItem", builds.cancel_queue_item, {}),
    ("GET", "view/all/api/json", system.view_api, {"parent": "", "view": "all"}),
    ("GET", "job/f/view/All/api/json", system.view_api,
     {"parent": "job/f/", "view": "All"}),
    ("GET", "checkJobName", items.check_job_name, {"parent": ""}),
    ("POST", "createItem", items.create_item, {"parent": ""}),
    ("POST", "job/a/job/b/createItem", items.create_item, {"parent": "job/a/job/b/"}),
    ("GET", "job/a/", items.item_page, {"item": "job/a/"}),
    ("GET", "job/a/configure", items.item_page, {"item": "job/a/"}),
    ("GET", "job/a/job/b/api/json", items.item_api, {"item": "job/a/job/b/"}),
    # a job literally named "5" or "job" is an item, not a build / a prefix
    ("GET", "job/a/job/5/api/json", items.item_api, {"item": "job/a/job/5/"}),
    ("GET", "job/job/job/job/api/json", items.item_api, {"item": "job/job/job/job/"}),
    ("GET", "job/a/config.xml", items.config_xml, {"item": "job/a/"}),
    ("POST", "job/a/config.xml", items.config_xml, {"item": "job/a/"}),
    ("POST", "job/a/doDelete", items.delete_item, {"item": "job/a/"}),
    ("POST", "job/a/doRename", items.rename_item, {"item": "job/a/"}),
    ("POST", "job/a/confirmRename", items.rename_item, {"item": "job/a/"}),
    ("POST", "job/a/enable", items.enable, {"item": "job/a/"}),
    ("POST", "job/a/disable", items.disable, {"item": "job/a/"}),
    ("POST", "job/a/build", builds.build, {"item": "job/a/"}),
    ("POST", "job/a/job/b/buildWithParameters", builds.build_with_parameters,
     {"item": "job/a/job/b/"}),
    ("GET", "job/a/3/", builds.build_page, {"item": "job/a/", "run": "3"}),
    ("GET", "job/a/3/api/json", builds.build_api, {"item": "job/a/", "run": "3"}),
    ("GET", "job/a/lastSuccessfulBuild/api/json", builds.build_api,
     {"item": "job/a/", "run": "lastSuccessfulBuild"}),
    ("GET", "job/a/job/b/7/consoleText", console.console_text,
     {"item": "job/a/job/b/", "run": "7"}),
    ("POST", "job/a/7/submitDescription", builds.submit_description,
     {"item": "job/a/", "run": "7"}),
    ("GET", "job/a/7/logText/progressiveText", console.progressive_text,
     {"item": "job/a/", "run": "7"}),
    # no verb annotation on the web method: any verb (node's jenkins client POSTs)
    ("POST", "job/a/lastBuild/logText/progressiveText", console.progressive_text,
     {"item": "job/a/", "run": "lastBuild"}),
    ("HEAD", "job/a/7/logText/progressiveHtml", console.progressive_html,
     {"item": "job/a/", "run": "7"}),
    ("DELETE", "job/a/job/b/", items.delete_http, {"item": "job/a/job/b/"}),
    ("GET", "computer/api/json", system.computer_set, {}),
    ("GET", "computer/(built-in)/api/python", system.computer_api, {}),
    ("GET", "computer/(master)/executors/1/api/json", system.executor_api, {}),
    ("GET", "computer/(built-in)/oneOffExecutors/0/api/python", system.executor_api, {}),
    ("GET", "user/admin/api/json", system.user_api, {}),
    # every exported object in the three flavours (stapler export/Flavor.java)
    ("GET", "api/python", system.root_api, {}),
    ("GET", "job/a/api/xml", items.item_api, {"item": "job/a/"}),
    ("GET", "job/a/3/api/python", builds.build_api, {"item": "job/a/", "run": "3"}),
    ("GET", "api/yaml", 404, {}),
    # wrong method -> 405, unknown -> 404
    ("GET", "job/a/doDelete", 405, {}),
    ("GET", "job/a/build", 405, {}),
    ("GET", "createItem", 405, {}),
    ("GET", "job/a/nope", 404, {}),
    ("GET", "job//api/json", 404, {}),
    ("GET", "jobs/a/api/json", 404, {}),
]


@pytest.mark.parametrize("method,path,expected,groups", ROUTING_TABLE,
                         ids=[f"{m} /{p}" for m, p, _, _ in ROUTING_TABLE])
def test_routing_table(method, path, expected, groups):
    route, found_groups, status = match(method, path)
    if isinstance(expected, int):
        assert route is None and status == expected
    else:
        assert route is not None and route.handler is expected
        assert found_groups == groups


def test_every_route_is_reachable_by_some_case():
    routed = {id(match(m, p)[0]) for m, p, e, _ in ROUTING_TABLE if not isinstance(e, int)}
    assert {id(r) for r in ROUTES} <= routed


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.pattern}" for r in ROUTES])
def test_route_rows_are_well_formed(route):
    assert route.method in ("GET", "POST", "DELETE", "ANY")
    assert re.compile(route.pattern)  # compiles
    assert route.handler.__doc__, "handlers document the endpoint they serve"
    assert route.permission is None or route.permission in PERMISSIONS
    if route.method in ("POST", "DELETE"):
        # Every write needs more than read access.
        assert route.permission not in READ_ONLY and route.permission is not None
    if route.method == "ANY":
        # Reachable by GET too, so it must be a read.
        assert route.permission in READ_ONLY


def test_no_two_routes_claim_the_same_case():
    for method, path, _expected, _ in ROUTING_TABLE:
        wanted = "GET" if method == "HEAD" else method
        claims = [r for r in ROUTES if r.method in (wanted, "ANY") and r.regex.match(path)]
        assert len(claims) <= 1, (method, path, claims)


# -- tree filter --------------------------------------------------------------

def test_parse_tree_nesting_and_ranges():
    tree = parse_tree("jobs[name,url,jobs[name]{0,10}],views[name]{2},primaryView")
    jobs = tree.children["jobs"]
    assert set(jobs.children) == {"name", "url", "jobs"}
    assert jobs.children["jobs"].range == (0, 10)
    assert set(jobs.children["jobs"].children) == {"name"}
    assert tree.children["views"].range == (2, 3)
    assert tree.children["primaryView"].children == {}
    assert parse_tree("builds[number]{3,}").children["builds"].range == (3, None)
    assert parse_tree("builds[number]{,3}").children["builds"].range == (None, 3)


@pytest.mark.parametrize("bad", ["", "jobs[name", "jobs]", "jobs[,]", "a{1", "a{x}",
                                 "jobs[name]]"])
def test_parse_tree_rejects_malformed(bad):
    with pytest.raises(TreeSyntaxError):
        parse_tree(bad)


class _Node(Exported):
    jenkins_class = "test.Node"

    def __init__(self, name, children=()):
        self.name, self.children = name, list(children)

    def exported(self):
        return (Prop("name", lambda: self.name, 999),
                Prop("color", lambda: "blue", 2),
                Prop("detail", lambda: "x"),
                Prop("jobs", lambda: self.children),
                Prop("hidden", lambda: "deep", -2))


def _tree():
    return _Node("root", [_Node("a", [_Node("a1", [_Node("a11")])]), _Node("b")])


def test_render_by_depth_follows_stapler_visibility():
    flat = render(_tree(), depth=0)
    assert "hidden" not in flat and flat["detail"] == "x"
    # level-1 objects only show visibility >= 2; their own collections vanish
    assert flat["jobs"][0] == {"_class": "test.Node", "name": "a", "color": "blue"}
    deeper = render(_tree(), depth=1)
    assert deeper["jobs"][0]["jobs"][0] == {"_class": "test.Node", "name": "a1",
                                            "color": "blue"}
    assert "hidden" in render(_tree(), depth=3)


def test_render_by_tree_writes_exactly_what_was_asked():
    data = render(_tree(), tree="jobs[name,jobs[name,jobs]]")
    assert data == {"_class": "test.Node", "jobs": [
        {"_class": "test.Node", "name": "a", "jobs": [
            # bare "jobs": nested objects keep only _class (python-jenkins relies
            # on this to know it must fetch that folder again)
            {"_class": "test.Node", "name": "a1", "jobs": [{"_class": "test.Node"}]}]},
        {"_class": "test.Node", "name": "b", "jobs": []}]}
    assert render(_tree(), tree="hidden") == {"_class": "test.Node", "hidden": "deep"}
    assert render(_tree(), tree="nosuch") == {"_class": "test.Node"}


def test_render_tree_ranges_slice_collections():
    assert [j["name"] for j in render(_tree(), tree="jobs[name]{1,}")["jobs"]] == ["b"]
    assert [j["name"] for j in render(_tree(), tree="jobs[name]{0}")["jobs"]] == ["a"]


# -- filter chain without sockets ---------------------------------------------

def _auth(user, token):
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


@pytest.fixture
def double():
    jd = JenkinsDouble(users={"admin": "t0k", "reader": "r3ad"}, readonly_users=["reader"],
                       crumb_exempt_api_tokens=True)
    jd.seed("f", FOLDER_XML)
    jd.seed("f/p", PIPELINE_XML)
    return jd


def _call(jd, method, path, user="admin", token="t0k", body=b"", ctype=None):
    headers = {"authorization": _auth(user, token)} if user else {}
    if ctype:
        headers["content-type"] = ctype
    return process(jd.app, method, "/" + path, headers, body)


# One representative request per write route, aimed at existing objects.
WRITES = [
    ("POST", "queue/cancelItem?id=1", "hudson.model.Item.Cancel"),
    ("POST", "job/f/createItem?name=x", "hudson.model.Item.Create"),
    ("POST", "job/f/job/p/config.xml", "hudson.model.Item.Configure"),
    ("POST", "job/f/job/p/doDelete", "hudson.model.Item.Delete"),
    ("POST", "job/f/job/p/doRename?newName=q", "hudson.model.Item.Configure"),
    ("POST", "job/f/job/p/enable", "hudson.model.Item.Configure"),
    ("POST", "job/f/job/p/disable", "hudson.model.Item.Configure"),
    ("POST", "job/f/job/p/build", "hudson.model.Item.Build"),
    ("POST", "job/f/job/p/buildWithParameters", "hudson.model.Item.Build"),
    ("POST", "job/f/job/p/lastBuild/submitDescription", None),  # no build: 404 first
]


@pytest.mark.parametrize("method,path,permission", WRITES)
def test_readonly_user_is_refused_every_write(double, method, path, permission):
    response = _call(double, method, path, "reader", "r3ad", PIPELINE_XML.encode(),
                     "text/xml")
    if permission is None:
        assert response.status == 404
    else:
        assert response.status == 403
        assert ("X-Required-Permission", permission) in response.headers
    assert double.item_names() == ["f", "f/p"]


def test_resolution_happens_before_permission(double):
    assert _call(double, "POST", "job/nope/doDelete", "reader", "r3ad").status == 404
    assert _call(double, "POST", "job/f/build", "admin").status == 404  # folder


def test_anonymous_gets_403_and_bad_token_401(double):
    anonymous = _call(double, "GET", "api/json", user=None)
    assert anonymous.status == 403
    assert ("X-You-Are-Authenticated-As", "anonymous") in anonymous.headers
    assert _call(double, "GET", "whoAmI/api/json", user=None).status == 200
    wrong = _call(double, "GET", "api/json", token="nope")
    assert wrong.status == 401
    assert ("WWW-Authenticate", 'Basic realm="Jenkins"') in wrong.headers


def test_index_pages_redirect_to_trailing_slash(double):
    response = _call(double, "GET", "job/f")
    assert response.status == 302
    assert dict(response.headers)["Location"].endswith("/job/f/")


def test_check_job_name_and_api_query_errors(double):
    taken = _call(double, "GET", "job/f/checkJobName?value=P")
    assert taken.status == 200 and b"class=error" in taken.body
    assert _call(double, "GET", "job/f/checkJobName?value=new").body == b"<div/>"
    assert b"unsafe character" in _call(double, "GET", "checkJobName?value=a%3Fb").body
    assert _call(double, "GET", "api/json?tree=jobs[name").status == 500
    assert _call(double, "GET", "api/json?depth=x").status == 400
    nested = _call(double, "GET", "api/json?tree=jobs[name,jobs[name]]{0,1}").body
    assert nested == (b'{"_class":"hudson.model.Hudson","jobs":[{"_class":'
                      b'"com.cloudbees.hudson.plugins.folder.Folder","name":"f","jobs":'
                      b'[{"_class":"org.jenkinsci.plugins.workflow.job.WorkflowJob",'
                      b'"name":"p"}]}]}')
