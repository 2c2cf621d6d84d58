"""Unit tests for the Jenkins double's computer and executors (executors.py): a running
build is the ``currentExecutable`` of a numbered executor (freestyle) or of a one-off
executor (Pipeline), as core's ``Computer``/``Executor`` export them. No sockets, no
executor threads: builds are made in the model and handed to the computer.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.jenkins_double import JenkinsDouble
from tests.support.jenkins_double.jobs import Build
from tests.support.jenkins_double.queue import LEFT
from tests.support.jenkins_double.server import process

PIPELINE_XML = "<flow-definition><description>d</description></flow-definition>"
FREESTYLE_XML = "<project><description>d</description></project>"
WORKFLOW_RUN = "org.jenkinsci.plugins.workflow.job.WorkflowRun"


@pytest.fixture
def double():
    jd = JenkinsDouble(users={"admin": "t0k"})
    jd.seed("pipe", PIPELINE_XML)
    jd.seed("free", FREESTYLE_XML)
    return jd


def _start(jd, name):
    job = jd.get_item(name)
    build = Build(job, len(job.builds) + 1, 1, [])
    job.builds[build.number] = build
    jd.app.queue.computer.take(build)
    return build


def _json(jd, path):
    headers = {"authorization": "Basic " + base64.b64encode(b"admin:t0k").decode()}
    response = process(jd.app, "GET", "/" + path, headers, b"")
    assert response.status == 200, (path, response.status)
    return json.loads(response.body)


def test_idle_node_has_idle_numbered_executors_and_no_one_off(double):
    computers = _json(double, "computer/api/json")
    assert computers["busyExecutors"] == 0 and computers["totalExecutors"] == 2
    node = computers["computer"][0]
    # depth 0: an executor's own properties are below the visibility line
    assert node["executors"] == [{"_class": "hudson.model.Executor"}] * 2
    assert node["oneOffExecutors"] == [] and node["idle"] is True
    deeper = _json(double, "computer/(built-in)/api/json?depth=1")
    assert deeper["executors"][1] == {"_class": "hudson.model.Executor",
                                      "currentExecutable": None, "idle": True,
                                      "likelyStuck": False, "number": 1, "progress": -1}


def test_a_freestyle_build_runs_on_the_lowest_free_executor(double):
    build = _start(double, "free")
    computers = _json(double, "computer/api/json?depth=1")
    assert computers["busyExecutors"] == 1
    first, second = computers["computer"][0]["executors"]
    assert first["currentExecutable"] == {"_class": "hudson.model.FreeStyleBuild",
                                          "number": 1, "url": build.url}
    assert (first["idle"], first["number"], second["idle"]) == (False, 0, True)
    assert _start(double, "free").executor.number == 1
    assert double.app.queue.computer.free_executor() is None


def test_a_pipeline_build_runs_on_a_one_off_executor_that_goes_when_it_ends(double):
    build = _start(double, "pipe")
    node = _json(double, "computer/(master)/api/json?depth=1")
    assert [e["idle"] for e in node["executors"]] == [True, True]
    assert node["idle"] is False
    assert node["oneOffExecutors"] == [{
        "_class": "hudson.model.OneOffExecutor",
        "currentExecutable": {"_class": WORKFLOW_RUN, "number": 1, "url": build.url},
        "idle": False, "likelyStuck": False, "number": -1, "progress": -1}]
    assert _json(double, "computer/api/json")["busyExecutors"] == 0  # one-offs don't count
    one_off = _json(double, "computer/(built-in)/oneOffExecutors/0/api/json")
    assert one_off["currentExecutable"]["url"] == build.url
    double.app.queue.computer.release(build)
    assert _json(double, "computer/api/json?depth=1")["computer"][0]["oneOffExecutors"] == []
    assert build.executor is None


def test_the_build_exports_its_executor_while_it_runs(double):
    build = _start(double, "pipe")
    running = _json(double, "job/pipe/1/api/json")
    assert running["executor"] == {"_class": "hudson.model.OneOffExecutor"}
    assert _json(double, "job/pipe/1/api/json?depth=1")["executor"]["number"] == -1
    double.app.queue.computer.release(build)
    assert _json(double, "job/pipe/1/api/json")["executor"] is None


def test_executor_progress_follows_the_estimate(double, monkeypatch):
    job = double.get_item("free")
    done = Build(job, 1, 1, [])
    done.building, done.duration = False, 10_000
    job.builds[1] = done
    build = _start(double, "free")
    executor = build.executor
    assert executor.estimated == 10_000
    executor.started -= 2_500
    assert 24 <= executor.progress() <= 26 and not executor.likely_stuck()
    executor.started -= 200_000
    assert executor.progress() == 99 and executor.likely_stuck()


def test_executors_past_the_list_and_other_nodes_are_404(double):
    headers = {"authorization": "Basic " + base64.b64encode(b"admin:t0k").decode()}
    for path in ("computer/(built-in)/executors/2/api/json",
                 "computer/(built-in)/oneOffExecutors/0/api/json",
                 "computer/agent-1/executors/0/api/json"):
        assert process(double.app, "GET", "/" + path, headers, b"").status == 404


def test_a_queue_item_that_left_shows_its_build_and_pending_ones_show_at_any_depth(double):
    with double.app.root.lock:
        double.app.queue.schedule(double.get_item("free"), "admin", None, 60)
    job = _json(double, "job/free/api/json")
    # Queue.Item is @ExportedBean(defaultVisibility = 999): all but actions, nested too
    assert job["queueItem"]["_class"] == "hudson.model.Queue$WaitingItem"
    assert job["queueItem"]["id"] == 1 and "actions" not in job["queueItem"]
    item = double.app.queue.all_items[1]
    build = _start(double, "free")
    item.state, item.build = LEFT, build  # as Queue._start_build leaves it
    left = _json(double, "queue/item/1/api/json")
    assert left["_class"] == "hudson.model.Queue$LeftItem" and left["cancelled"] is False
    assert left["executable"] == {"_class": "hudson.model.FreeStyleBuild", "number": 1,
                                  "url": build.url}
