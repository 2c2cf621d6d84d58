"""The rollback picker, rendered per environment and in the shared library, run in the Groovy
pipeline harness (tests/support/groovy) with a stand-in `shipway` that answers `releases
--json` with what shipway says of a release history recorded on the lab: the input offers
shipway's lines with its default first, only the environment's submitters may answer, the
picked release reaches `shipway rollback --to` as #SEQ and the reason and who answered as
variables, never as code; each job binds only its own environment's credentials.
"""
import json
import os
import stat
import textwrap
import xml.etree.ElementTree as ET

import pytest

from pipeline import catalog, render
from pipeline.swarm import picker
from pipeline.swarm import releases as history
from tests.support.groovy import groovy_available, pipeline_run, recorded_calls, run_scenarios

pytestmark = [pytest.mark.groovy,
              pytest.mark.skipif(not groovy_available(), reason="groovy/groovyc not installed")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOP = catalog.load(os.path.join(ROOT, "tests", "fixtures", "golden", "rollback-environments",
                                 "catalog.yml"))
LIBRARY = os.path.join(ROOT, "jenkins")
HISTORY = os.path.join(ROOT, "tests", "fixtures", "releases", "lab-history.json")
PROD_SECRET = "pr0d-Pa55"
STAGING_SECRET = "st4ging-Pa55"
CREDENTIALS = {"prod-registry": {"username": "prod", "password": PROD_SECRET},
               "staging-registry": {"username": "stage", "password": STAGING_SECRET},
               "prod-swarm": {"client_key": "KEY-prod", "client_cert": "CERT-prod",
                              "ca_cert": "CA-prod"}}
# What a person types at 3 a.m., and what must stay data all the way to shipway.
REASON = "it's `id` $(touch /tmp/pwned) ${HOME} \"500s\" \\ on /login"

# Stands in for shipway: `releases` prints FAKE_RELEASES' content, `rollback` a record; every
# call is logged with the variables the job gives it.
FAKE_SHIPWAY = textwrap.dedent("""\
    #!/usr/bin/env python3
    import json, os, sys
    env = {name: os.environ.get(name) for name in (
        "DOCKER_HOST", "DOCKER_TLS_VERIFY", "SHIPWAY_REASON", "SHIPWAY_APPROVED_BY",
        "SHIPWAY_REGISTRY_USER", "SHIPWAY_REGISTRY_PASSWORD")}
    cert = os.environ.get("DOCKER_CERT_PATH")
    if cert:
        with open(os.path.join(cert, "cert.pem"), encoding="utf-8") as handle:
            env["cert"] = handle.read()
    with open(os.environ["FAKE_SHIPWAY_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": sys.argv[1:], "env": env}) + "\\n")
    if sys.argv[1] == "releases":
        with open(os.environ["FAKE_RELEASES"], encoding="utf-8") as handle:
            sys.stdout.write(handle.read())
    else:
        print(json.dumps({"previous_image": "reg/web@sha256:aaa", "image": "reg/web@sha256:bbb"}))
""")


def lab_releases():
    """`shipway releases --json` of the recorded lab history: #4 runs, #3 was rolled back,
    #2 is the default, #1 runs #4's image."""
    with open(HISTORY, encoding="utf-8") as handle:
        recorded = json.load(handle)
    releases = sorted((history.from_config(c) for c in recorded["configs"]),
                      key=lambda r: r.seq, reverse=True)
    running = history.running_release(releases, recorded["service"]["Spec"])
    return picker.entries(releases, running, picker.parse_time(recorded["recorded"]))


LISTED = lab_releases()
LINE = {entry["seq"]: entry["choice"] for entry in LISTED}


def job_script(environment):
    """The picker's script as Jenkins reads it: out of the job's config.xml."""
    xml = render.render_job_config(SHOP, "web", "rollback", environment=environment)
    return ET.fromstring(xml).find("./definition/script").text


LIBRARY_PICKER = ("@Library('shipway') _\n"
                  "shipwayRollback(service: 'web', credentials: 'prod-registry', timeout: '60s',\n"
                  "                dockerHost: 'tcp://prod-manager.example:2376',\n"
                  "                dockerCredentials: 'prod-swarm', submitter: 'ops')\n")
OPS = {"user": "alice", "groups": ["ops"], "after": 30}


def _scenarios(tmp_path_factory):
    scenarios = {}

    def add(name, script, answers, listed=LISTED, **kwargs):
        work = tmp_path_factory.mktemp(name)
        fake = work / ".bin" / "shipway"
        fake.parent.mkdir()
        fake.write_text(FAKE_SHIPWAY)
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        (work / ".releases.json").write_text(json.dumps(listed))
        env = {"PATH": f"{fake.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(work),
               "FAKE_SHIPWAY_LOG": str(work / ".calls.jsonl"),
               "FAKE_RELEASES": str(work / ".releases.json")}
        scenarios[name] = (work, pipeline_run(script, workdir=work, env=env,
                                              credentials=CREDENTIALS, answers=answers,
                                              **kwargs))

    production, staging = job_script("production"), job_script("staging")
    # mallory may not answer production's question; alice may, through her group ops.
    add("production-default", production,
        [{"user": "mallory", "after": 10, "parameters": {"RELEASE": 1}},
         {**OPS, "parameters": {"REASON": REASON}}])
    add("staging-pick", staging, [{"user": "bob", "parameters": {"RELEASE": 2}}])
    add("production-aborted", production, [{**OPS, "action": "abort"}])
    add("nothing-to-pick", staging, [], listed=[e for e in LISTED if e["running"]])
    add("library", LIBRARY_PICKER,
        [{"user": "mallory"}, {**OPS, "parameters": {"RELEASE": 1, "REASON": REASON}}],
        library_dirs=[LIBRARY])
    return scenarios


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if os.path.exists("/tmp/pwned"):
        os.remove("/tmp/pwned")
    scenarios = _scenarios(tmp_path_factory)
    ran = run_scenarios(scenarios, timeout=900)
    assert not os.path.exists("/tmp/pwned"), "a reason was run as shell"
    return ran


def _parameters(asked):
    return {p["name"]: p for p in asked["parameters"]}


def test_the_input_offers_shipways_lines_default_first_and_only_submitters_answer(runs):
    work, result = runs["production-default"]
    assert result.returncode == 0, result.log
    [asked] = result.inputs
    assert asked["submitter"] == "ops,release-managers"
    assert asked["submitterParameter"] == "SHIPWAY_APPROVED_BY"
    assert not asked["held_executor"]                     # the Pick stage has no agent
    assert asked["message"] == f"Roll web back in production. Running now: {LINE[4]}"
    choices = _parameters(asked)["RELEASE"]["choices"]
    assert choices == [LINE[2], LINE[3], LINE[1]]          # the default, then newest first
    assert _parameters(asked)["REASON"]["type"] == "string"
    assert [r["user"] for r in asked["refused"]] == ["mallory"]
    assert asked["approver"] == "alice"
    releases, rollback = recorded_calls(work)
    assert releases["argv"] == ["releases", "--service", "web", "--json"]
    assert rollback["argv"] == ["rollback", "--service", "web", "--timeout", "300s", "--json",
                                "--to", "#2"]
    assert rollback["env"]["SHIPWAY_REASON"] == REASON
    assert rollback["env"]["SHIPWAY_APPROVED_BY"] == "alice"
    assert result.description == \
        f"from reg/web@sha256:aaa to reg/web@sha256:bbb by alice: {REASON}"
    assert result.archived == ["shipway-rollback.json"]


def test_each_call_has_its_environments_engine_and_only_the_rollback_a_registry_login(runs):
    work, result = runs["production-default"]
    releases, rollback = recorded_calls(work)
    for call in (releases, rollback):
        assert call["env"]["DOCKER_HOST"] == "tcp://prod-manager.example:2376"
        assert call["env"]["DOCKER_TLS_VERIFY"] == "1" and call["env"]["cert"] == "CERT-prod"
    assert releases["env"]["SHIPWAY_REGISTRY_USER"] is None
    assert rollback["env"]["SHIPWAY_REGISTRY_USER"] == "prod"
    assert PROD_SECRET not in result.log and STAGING_SECRET not in json.dumps(recorded_calls(work))


def test_a_picked_release_goes_to_rollback_as_its_number(runs):
    work, result = runs["staging-pick"]
    assert result.returncode == 0, result.log
    [asked] = result.inputs
    assert asked["submitter"] is None                       # staging has no approval
    releases, rollback = recorded_calls(work)
    assert rollback["argv"][-2:] == ["--to", "#1"]
    assert rollback["argv"][:3] == ["rollback", "--service", "web-staging"]
    assert rollback["env"]["SHIPWAY_APPROVED_BY"] == "bob"
    assert rollback["env"]["SHIPWAY_REASON"] == "" and "cert" not in rollback["env"]
    assert rollback["env"]["SHIPWAY_REGISTRY_USER"] == "stage"
    assert result.description == "from reg/web@sha256:aaa to reg/web@sha256:bbb by bob"


def test_aborting_the_question_rolls_nothing_back(runs):
    work, result = runs["production-aborted"]
    assert result.result == "ABORTED" and result.returncode == 1
    assert [c["argv"][0] for c in recorded_calls(work)] == ["releases"]
    assert result.stages["Rollback"] != "ran"


def test_with_nothing_to_pick_the_build_fails_before_asking(runs):
    work, result = runs["nothing-to-pick"]
    assert result.returncode == 1 and result.inputs == []
    assert "web-staging has no other recorded release to roll back to" in result.log
    assert [c["argv"][0] for c in recorded_calls(work)] == ["releases"]


def test_the_library_picks_the_same_way(runs):
    work, result = runs["library"]
    assert result.returncode == 0, result.log
    [asked] = result.inputs
    assert asked["submitter"] == "ops" and not asked["held_executor"]
    assert _parameters(asked)["RELEASE"]["choices"] == [LINE[2], LINE[3], LINE[1]]
    releases, rollback = recorded_calls(work)
    assert releases["argv"] == ["releases", "--service", "web", "--json"]
    assert rollback["argv"] == ["rollback", "--service", "web", "--timeout", "60s", "--to",
                                "#3", "--json"]
    assert rollback["env"]["SHIPWAY_REASON"] == REASON
    assert rollback["env"]["SHIPWAY_APPROVED_BY"] == "alice"
    assert rollback["env"]["cert"] == "CERT-prod" and rollback["env"]["DOCKER_TLS_VERIFY"] == "1"
    assert PROD_SECRET not in result.log
