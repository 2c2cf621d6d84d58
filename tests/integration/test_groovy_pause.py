"""A deploy that deploy.analysis paused (shipway exits 3, `on_inconclusive: pause`), in the
rendered Jenkinsfile and the shared library, run in the Groovy pipeline harness
(tests/support/groovy) with a stand-in `shipway` that exits 3 where told: the stage asks
"continue the rollout or roll back?" inside the pause timeout; `continue` runs as whoever
answered (SHIPWAY_APPROVED_BY, which shipway records on the release) and may pause again;
`roll back`, an abort or no answer in time runs `shipway rollback` and fails the build.
"""
import json
import os
import stat
import textwrap

import pytest

from pipeline import catalog, render
from tests.support.groovy import groovy_available, pipeline_run, recorded_calls, run_scenarios

pytestmark = [pytest.mark.groovy,
              pytest.mark.skipif(not groovy_available(), reason="groovy/groovyc not installed")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "golden")
LIBRARY = os.path.join(ROOT, "jenkins")
SECRET = "s3cr3t-Pa55"
CREDENTIALS = {"registry-creds": {"username": "ci", "password": SECRET},
               "prometheus-login": {"username": "prom", "password": "pr0m-Pa55"},
               "production-swarm": {"client_key": "K", "client_cert": "C", "ca_cert": "CA"}}
CONTINUE, ROLL_BACK = {"ACTION": 0}, {"ACTION": 1}
MINUTE = 60

# Logs each call with who approved it; exits FAKE_EXIT_<stage> (a list, one per call of that
# stage, the last repeated) and prints a record for --json.
FAKE_SHIPWAY = textwrap.dedent("""\
    #!/usr/bin/env python3
    import json, os, sys
    log = os.environ["FAKE_SHIPWAY_LOG"]
    stage = sys.argv[1]
    seen = 0
    if os.path.exists(log):
        with open(log, encoding="utf-8") as handle:
            seen = sum(1 for line in handle if json.loads(line)["argv"][0] == stage)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"argv": sys.argv[1:],
                                 "approved_by": os.environ.get("SHIPWAY_APPROVED_BY"),
                                 "password": os.environ.get("SHIPWAY_REGISTRY_PASSWORD")})
                     + "\\n")
    if "--json" in sys.argv:
        print(json.dumps({"service": "hello", "stage": stage, "ok": True}))
    codes = os.environ.get("FAKE_EXIT_" + stage, "0").split(",")
    sys.exit(int(codes[min(seen, len(codes) - 1)]))
""")
TWO_LINE = ("@Library('shipway') _\n"
            "shipwayPipeline(service: 'hello', credentials: 'registry-creds', pauseTimeout: 20)\n")


def golden(feature):
    return catalog.load(os.path.join(GOLDEN, feature, "catalog.yml"))


def _workdir(tmp_path_factory, name, exits):
    work = tmp_path_factory.mktemp(name)
    (work / "shipway.yml").write_text("# the service repo's catalog\n")
    bin_dir = work / ".bin"
    bin_dir.mkdir()
    fake = bin_dir / "shipway"
    fake.write_text(FAKE_SHIPWAY)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
           "FAKE_SHIPWAY_LOG": str(work / ".calls.jsonl"), "HOME": str(work)}
    env.update({f"FAKE_EXIT_{stage}": codes for stage, codes in exits.items()})
    return work, env


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    plain = render.render_jenkinsfile(golden("paused-analysis"), "hello")
    envs = render.render_jenkinsfile(golden("paused-environments"), "hello")
    scenarios = {}

    def add(name, script, exits, answers, **kwargs):
        work, env = _workdir(tmp_path_factory, name, exits)
        scenarios[name] = (work, pipeline_run(script, workdir=work, env=env, branch="main",
                                              credentials=CREDENTIALS, answers=answers,
                                              **kwargs))

    add("continued", plain, {"deploy": "3"},
        [{"user": "ops", "parameters": CONTINUE, "after": 5 * MINUTE}])
    add("rolled-back", plain, {"deploy": "3"}, [{"user": "ops", "parameters": ROLL_BACK}])
    add("unanswered", plain, {"deploy": "3"}, [])
    add("aborted", plain, {"deploy": "3"}, [{"user": "ops", "action": "abort"}])
    add("paused-twice", plain, {"deploy": "3", "continue": "3,0"},
        [{"user": "ops", "parameters": CONTINUE}, {"user": "alice", "parameters": CONTINUE}])
    add("not-paused", plain, {"deploy": "1"}, [])
    # production's gate, then its promote pauses; staging's deploy does not ask
    add("promote-paused", envs, {"promote": "3"},
        [{"user": "ops"}, {"user": "alice", "parameters": CONTINUE}])
    add("library-continued", TWO_LINE, {"deploy": "3"},
        [{"user": "ops", "parameters": CONTINUE}], library_dirs=[LIBRARY])
    add("library-unanswered", TWO_LINE, {"deploy": "3"}, [], library_dirs=[LIBRARY])
    return run_scenarios(scenarios)


BASE = ["--catalog", "shipway.yml", "--service", "hello"]


def test_continue_runs_as_whoever_answered(runs):
    work, result = runs["continued"]
    assert result.returncode == 0 and result.result == "SUCCESS", result.log
    calls = recorded_calls(work)
    assert [c["argv"][0] for c in calls] == ["build", "image", "push", "deploy", "continue",
                                             "status"]
    assert calls[4]["argv"] == ["continue", *BASE, "--json"]
    assert calls[4]["approved_by"] == "ops" and calls[4]["password"] == SECRET
    [asked] = result.inputs
    assert asked["message"] == ("hello: the analysis of the new release was inconclusive and "
                                "the update is paused. Continue the rollout or roll back?")
    assert asked["submitterParameter"] == "SHIPWAY_APPROVED_BY"
    assert json.loads((work / "shipway-deploy.json").read_text())["stage"] == "continue"
    assert SECRET not in result.log


@pytest.mark.parametrize("name,why", [
    ("rolled-back", "rolled back: ops answered roll back"),
    ("unanswered", "rolled back: no answer within the pause timeout, or the question was aborted"),
    ("aborted", "rolled back: no answer within the pause timeout, or the question was aborted"),
])
def test_roll_back_no_answer_or_an_abort_rolls_back_and_fails(runs, name, why):
    work, result = runs[name]
    assert result.result == "FAILURE" and why in result.log, result.log
    calls = recorded_calls(work)
    assert [c["argv"][0] for c in calls][3:] == ["deploy", "rollback", "status"]
    assert calls[4]["argv"] == ["rollback", *BASE, "--json"]
    assert "shipway-rollback.json" in result.archived
    if name == "unanswered":   # the pause timeout: 30 minutes in this catalog
        assert result.inputs[0]["outcome"] == "timeout"


def test_a_continue_that_pauses_again_asks_again(runs):
    work, result = runs["paused-twice"]
    assert result.result == "SUCCESS", result.log
    calls = [c for c in recorded_calls(work) if c["argv"][0] == "continue"]
    assert [c["approved_by"] for c in calls] == ["ops", "alice"]
    assert len(result.inputs) == 2


def test_a_deploy_that_fails_otherwise_is_not_asked(runs):
    _, result = runs["not-paused"]
    assert result.result == "FAILURE" and not result.inputs
    assert "shipway exited 1" in result.log


def test_a_paused_promote_continues_in_its_environment(runs):
    work, result = runs["promote-paused"]
    assert result.result == "SUCCESS", result.log
    calls = recorded_calls(work)
    [go_on] = [c for c in calls if c["argv"][0] == "continue"]
    assert go_on["argv"] == ["continue", *BASE, "--environment", "production", "--json"]
    assert go_on["approved_by"] == "alice"   # who answered, not who approved the gate
    assert [i["message"].split(":")[0] for i in result.inputs] == [
        "Promote hello from staging to production?", "hello in production"]


def test_the_library_asks_the_same(runs):
    work, result = runs["library-continued"]
    assert result.result == "SUCCESS", result.log
    [go_on] = [c for c in recorded_calls(work) if c["argv"][0] == "continue"]
    assert go_on["argv"] == ["continue", "--service", "hello", "--catalog", "shipway.yml",
                             "--json"] and go_on["approved_by"] == "ops"
    work, result = runs["library-unanswered"]
    assert result.result == "FAILURE" and "rolled back: no answer within the pause timeout" \
        in result.log
    assert [c["argv"][0] for c in recorded_calls(work)][-2:] == ["rollback", "status"]
    assert result.inputs[0]["outcome"] == "timeout"
