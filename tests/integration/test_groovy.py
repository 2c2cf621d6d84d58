"""Rendered Jenkinsfiles and the shared library, checked with the real Groovy: they compile with
groovyc, and they do the right thing when run in the pipeline harness (tests/support/groovy):
stages honour `when`, `sh` receives every catalog value literally, secrets stay out of the log.

All harness scenarios run in one JVM and all compiles in another (each JVM start costs ~1 s).
"""
import json
import os
import stat
import textwrap
import xml.etree.ElementTree as ET

import pytest

from pipeline import catalog, render
from tests.support.groovy import (
    HARNESS_GAP,
    compile_groovy,
    groovy_available,
    pipeline_run,
    recorded_calls,
    run_pipelines,
)

pytestmark = [pytest.mark.groovy,
              pytest.mark.skipif(not groovy_available(), reason="groovy/groovyc not installed")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "golden")
EXAMPLE = os.path.join(ROOT, "examples", "catalog.yml")
LIBRARY = os.path.join(ROOT, "jenkins")
SECRET = "s3cr3t-Pa55"
PROMETHEUS_SECRET = "pr0m-Pa55"
PROMETHEUS_TOKEN = "t0ken-XYZ"
HOSTILE_CATALOG_PATH = "it's a $(touch pwned) ${HOME} `id` \\ \n]]>&amp;.yml"
NASTY = ["it's", 'say "hi"', "back\\slash", "${env.HOME}", "$(id)", "`id`", "new\nline",
         "cr\rlf", "]]>", "&amp;", "tab\tx", "\\u0027", "\\\\u0027", "\\'", "ünï €", "\x01"]
TWO_LINE_JENKINSFILE = ("@Library('shipway') _\n"
                        "shipwayPipeline(service: 'hello', credentials: 'reg')\n")

# Stands in for the shipway CLI: records its argv and registry variables, prints a JSON
# record for --json (saying which call made it), fails when FAKE_SHIPWAY_FAIL_<stage> says
# so. Under "env" it records the variables an environment's stage binds (a bound certificate
# as its cert.pem and the mode of its directory), the approver, whether the catalog is where
# it runs, and the record --expect-record names as it finds it there.
FAKE_SHIPWAY = textwrap.dedent("""\
    #!/usr/bin/env python3
    import json, os, stat, sys
    env = {}
    for name, value in os.environ.items():
        if name.startswith("DOCKER_CERT_PATH"):
            with open(os.path.join(value, "cert.pem"), encoding="utf-8") as handle:
                env[name] = {"cert": handle.read(), "path": value,
                             "mode": oct(stat.S_IMODE(os.stat(value).st_mode))}
        elif name.startswith(("DOCKER_TLS_VERIFY", "SHIPWAY_REGISTRY_", "SHIPWAY_APPROVED_BY")):
            env[name] = value
    expected = None
    if "--expect-record" in sys.argv:
        try:
            with open(sys.argv[sys.argv.index("--expect-record") + 1], encoding="utf-8") as f:
                expected = json.load(f)
        except OSError as exc:
            expected = exc.strerror
    with open(os.environ["FAKE_SHIPWAY_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": sys.argv[1:],
                              "user": os.environ.get("SHIPWAY_REGISTRY_USER"),
                              "password": os.environ.get("SHIPWAY_REGISTRY_PASSWORD"),
                              "prometheus": [os.environ.get("SHIPWAY_PROMETHEUS_" + name)
                                             for name in ("USER", "PASSWORD", "TOKEN")],
                              "env": env, "cwd": os.getcwd(),
                              "catalog_here": os.path.exists("shipway.yml"),
                              "expected": expected})
                  + "\\n")
    if "--json" in sys.argv and sys.argv[1] == "releases":   # what the rollback picker reads
        print(json.dumps([{"seq": 2, "running": True, "default": False, "choice": "#2  build 2"},
                          {"seq": 1, "running": False, "default": True, "choice": "#1  build 1"}]))
    elif "--json" in sys.argv:
        print(json.dumps({"service": "x", "previous_image": "reg/x@sha256:aaa",
                          "image": "reg/x@sha256:bbb", "argv": sys.argv[1:]}))
    sys.exit(int(os.environ.get("FAKE_SHIPWAY_FAIL_" + sys.argv[1], "0")))
""")


def load(path):
    return catalog.load(path)


def golden(feature):
    return load(os.path.join(GOLDEN, feature, "catalog.yml"))


def only_service(cat):
    (name,) = cat.services
    return name


def field_catalog(value):
    """A catalog with `value` in every field that reaches Groovy: jenkins.credentials,
    jenkins.agent and jenkins.deploy_branches (the other catalog fields either reach only
    config.xml or no rendered file: tests/unit/test_render.py checks each one)."""
    return catalog.from_data({"version": 1, "name": "fields", "services": {"s": {
        "image": "127.0.0.1:5000/x", "deploy": {"timeout": 1.5},
        "jenkins": {"repo": "https://git.example.com/x.git", "credentials": value,
                    "agent": value, "deploy_branches": [value]}}}}, "fields.yml")


# Which branches deploy: (deploy_branches, branch, deploys?), Jenkins' own rule for
# `when { branch }` (pipeline-model-definition BranchConditional + Comparator.GLOB = Ant's
# SelectorUtils.matchPath, case-insensitive), which the harness runs for real.
BRANCH_TABLE = [
    (["main"], "main", True),
    (["main"], "Main", True),                 # letters match in any case
    (["Main"], "main", True),
    (["main"], "mainline", False),
    (["ma*n"], "main", True),
    (["feat?"], "feat1", True),
    (["feat?"], "feat12", False),
    (["release/*"], "release/1.2", True),
    (["release/*"], "release/1.2/x", False),  # `*` stays within one segment
    (["release/*"], "releases/1", False),
    (["release/**"], "release/1.2/x", True),
    (["release/**"], "release", True),        # `**` is zero or more segments
    (["RELEASE/**"], "release/2", True),
    (["*"], "feature/x", False),
    (["**"], "feature/x", True),
    (["**/hotfix"], "hotfix", True),
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    (["release/"], "release", True),          # empty segments do not count
    (["/main"], "main", False),               # an absolute pattern: absolute names only
    (["dev", "release/*"], "release/2", True),
    (["ÜBER"], "über", True),
]


def branch_catalog(patterns):
    return catalog.from_data({"version": 1, "name": "branches", "services": {"s": {
        "image": "127.0.0.1:5000/x",
        "jenkins": {"repo": "https://git.example.com/x.git", "credentials": "registry-creds",
                    "deploy_branches": list(patterns)}}}}, "branches.yml")


def rollback_script_from_job_xml(cat, service="s"):
    """The rollback script as Jenkins reads it: out of the parsed job config.xml."""
    xml = render.render_job_config(cat, service, "rollback")
    return ET.fromstring(xml.encode("utf-8")).find("definition/script").text


# ---------------------------------------------------------------------------- compiling

def test_everything_compiles_with_groovyc():
    """Every rendered Jenkinsfile, every library var and this repo's Jenkinsfile: one groovyc."""
    sources = {}
    catalogs = {f"golden_{f.replace('-', '_')}": golden(f) for f in sorted(os.listdir(GOLDEN))
                if os.path.exists(os.path.join(GOLDEN, f, "catalog.yml"))}
    if os.path.exists(EXAMPLE):
        catalogs["example"] = load(EXAMPLE)
    for key, cat in catalogs.items():
        for service in cat.services:
            stem = f"{key}_{service.replace('-', '_')}"
            sources[f"{stem}_Jenkinsfile"] = render.render_jenkinsfile(cat, service)
            sources[f"{stem}_rollback"] = render.render_rollback(cat, service)
            for env in cat.environments:   # the rollback picker of each environment
                sources[f"{stem}_rollback_{env.replace('-', '_')}"] = \
                    render.render_rollback(cat, service, env)
    hostile = golden("hostile")
    sources["hostile_path_Jenkinsfile"] = render.render_jenkinsfile(
        hostile, "evil", catalog_path=HOSTILE_CATALOG_PATH)
    for name in sorted(os.listdir(os.path.join(LIBRARY, "vars"))):
        if name.endswith(".groovy"):
            with open(os.path.join(LIBRARY, "vars", name), encoding="utf-8") as handle:
                sources[name[:-len(".groovy")]] = handle.read()
    with open(os.path.join(ROOT, "Jenkinsfile"), encoding="utf-8") as handle:
        sources["repo_Jenkinsfile"] = handle.read()
    sources["two_line_Jenkinsfile"] = TWO_LINE_JENKINSFILE
    for i, value in enumerate(NASTY):
        fields = field_catalog(value)
        sources[f"field_{i}_Jenkinsfile"] = render.render_jenkinsfile(fields, "s")
        sources[f"field_{i}_rollback"] = rollback_script_from_job_xml(fields)
    code, output = compile_groovy(sources)
    assert code == 0, output
    assert len(sources) >= 20


def test_a_broken_script_does_not_compile():
    code, output = compile_groovy({"broken": "pipeline { stage('x' { }\n"})
    assert code != 0 and "broken" in output


# ---------------------------------------------------------------------------- harness runs

def _workdir(tmp_path_factory, name, extra_env=None):
    work = tmp_path_factory.mktemp(name)
    bin_dir = work / ".bin"
    bin_dir.mkdir()
    fake = bin_dir / "shipway"
    fake.write_text(FAKE_SHIPWAY)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
           "FAKE_SHIPWAY_LOG": str(work / ".calls.jsonl"), "HOME": str(work)}
    env.update(extra_env or {})
    return work, env


CREDS = {"registry-creds": {"username": "ci", "password": SECRET}}


def _scenarios(tmp_path_factory):
    basic = golden("basic")
    branches = golden("deploy-branches")
    hostile = golden("hostile")
    hostile_jenkins = hostile.services["evil"]["jenkins"]
    scenarios = {}

    def add(name, script, extra_env=None, catalog=False, build_number=None, **kwargs):
        work, env = _workdir(tmp_path_factory, name, extra_env)
        if catalog:   # what the promote stages must find in their own workspace
            (work / "shipway.yml").write_text("# the service repo's catalog\n")
        if build_number is not None:
            env["BUILD_NUMBER"] = str(build_number)
        scenarios[name] = (work, pipeline_run(script, workdir=work, env=env, **kwargs))

    add("main", render.render_jenkinsfile(basic, "hello"), branch="main", credentials=CREDS)
    add("feature", render.render_jenkinsfile(basic, "hello"), branch="feature/x",
        credentials=CREDS)
    add("multibranch", render.render_jenkinsfile(branches, "api"), branch="release/1.2",
        multibranch=True, credentials={"team-registry": {"username": "u", "password": SECRET}})
    add("not-a-release", render.render_jenkinsfile(branches, "api"), branch="release/1.2/x",
        multibranch=True, credentials={"team-registry": {"username": "u", "password": SECRET}})
    add("hostile", render.render_jenkinsfile(hostile, "evil", catalog_path=HOSTILE_CATALOG_PATH),
        branch="$(touch /tmp/pwned)",
        credentials={hostile_jenkins["credentials"]: {"username": "u", "password": SECRET}})
    add("push-fails", render.render_jenkinsfile(basic, "hello"), {"FAKE_SHIPWAY_FAIL_push": "3"},
        branch="main", credentials=CREDS)
    add("no-credential", render.render_jenkinsfile(basic, "hello"), branch="main")
    add("deploy-fails", render.render_jenkinsfile(basic, "hello"),
        {"FAKE_SHIPWAY_FAIL_deploy": "1"}, branch="main", credentials=CREDS)
    add("echo-secret", textwrap.dedent("""\
        pipeline {
            agent any
            stages {
                stage('Leak') {
                    steps {
                        withCredentials([usernamePassword(credentialsId: 'registry-creds',
                                usernameVariable: 'U', passwordVariable: 'P')]) {
                            sh 'echo "the password is $P"'
                        }
                    }
                }
            }
        }
        """), credentials=CREDS)
    add("rollback", render.render_rollback(basic, "hello"), credentials=CREDS)
    add("rollback-release", render.render_rollback(basic, "hello"), credentials=CREDS,
        params={"RELEASE": "it's $(id) ${HOME}"})
    add("library-main", TWO_LINE_JENKINSFILE, branch="main", library_dirs=[LIBRARY],
        credentials={"reg": {"username": "u", "password": SECRET}})
    add("library-deploy-fails", TWO_LINE_JENKINSFILE, {"FAKE_SHIPWAY_FAIL_deploy": "1"},
        branch="main", library_dirs=[LIBRARY],
        credentials={"reg": {"username": "u", "password": SECRET}})
    add("library-feature", TWO_LINE_JENKINSFILE, branch="feature", library_dirs=[LIBRARY],
        credentials={"reg": {"username": "u", "password": SECRET}})
    add("library-rollback", "@Library('shipway') _\n"
        "shipwayRollback(service: 'hello', credentials: 'reg', timeout: '60s')\n",
        library_dirs=[LIBRARY], answers=[{"user": "ops", "parameters": {"REASON": "it's $(id)"}}],
        credentials={"reg": {"username": "u", "password": SECRET}})
    prometheus_store = {**CREDS, "prometheus-login": {"username": "prom",
                                                      "password": PROMETHEUS_SECRET},
                        "prometheus-token": {"secret": PROMETHEUS_TOKEN}}
    login, token = golden("prometheus-login"), golden("prometheus-token")
    add("prometheus-login", render.render_jenkinsfile(login, "hello"), branch="main",
        credentials=prometheus_store)
    add("prometheus-login-rollback", rollback_script_from_job_xml(login, "hello"),
        credentials=prometheus_store)
    add("prometheus-token", render.render_jenkinsfile(token, "hello"), branch="main",
        credentials=prometheus_store)
    add("prometheus-token-rollback", rollback_script_from_job_xml(token, "hello"),
        credentials=prometheus_store)
    add("prometheus-wrong-kind", render.render_jenkinsfile(token, "hello"), branch="main",
        credentials={"prometheus-token": {"username": "prom", "password": PROMETHEUS_SECRET}})
    add("library-prometheus", "@Library('shipway') _\nshipwayPipeline(service: 'hello', "
        "credentials: 'registry-creds', prometheusCredentials: 'prometheus-login')\n",
        branch="main", library_dirs=[LIBRARY], credentials=prometheus_store)
    add("library-rollback-token", "@Library('shipway') _\nshipwayRollback(service: 'hello', "
        "prometheusToken: 'prometheus-token')\n", library_dirs=[LIBRARY],
        credentials=prometheus_store, answers=[{"user": "ops"}])
    add("library-prometheus-both", "@Library('shipway') _\nnode {\n  shipwayStage(stage: "
        "'deploy', service: 'hello', prometheusCredentials: 'prometheus-login', "
        "prometheusToken: 'prometheus-token')\n}\n", library_dirs=[LIBRARY],
        credentials=prometheus_store)
    literals = "\n".join(f"writeFile file: 'lit-{i}.txt', text: {render.groovy_string(v)}"
                         for i, v in enumerate(NASTY))
    add("literals", f"node {{\n{literals}\n}}\n")
    add("gap", "pipeline { agent any; stages { stage('x') { steps { notAStep 'y' } } } }\n")
    for i, (patterns, branch, _) in enumerate(BRANCH_TABLE):
        add(f"branch-rendered-{i}", render.render_jenkinsfile(branch_catalog(patterns), "s"),
            branch=branch, multibranch=True, credentials=CREDS)
        add(f"branch-library-{i}", "@Library('shipway') _\nshipwayPipeline(service: 's', "
            f"deployBranches: [{', '.join(render.groovy_string(p) for p in patterns)}])\n",
            branch=branch, library_dirs=[LIBRARY])
    for i, value in enumerate(NASTY):
        fields = field_catalog(value)
        store = {value: {"username": "u", "password": SECRET}}
        add(f"field-{i}", render.render_jenkinsfile(fields, "s"), branch=value,
            multibranch=True, credentials=store)
        add(f"field-rollback-{i}", rollback_script_from_job_xml(fields), credentials=store)
    _environment_scenarios(add)
    return scenarios


# ---------------------------------------------------------------------------- environments
# The three-environment golden catalog: dev, then staging (approval by qa, 4 h), then
# production (approval by ops or release-managers, 1 d); a client certificate per
# environment, production's own registry login.

def _cert(name):
    return {"client_key": f"KEY-{name}", "client_cert": f"CERT-{name}", "ca_cert": f"CA-{name}"}


PROD_SECRET = "pr0d-Pa55"
ENV_CREDS = {**CREDS, "prod-registry": {"username": "prod", "password": PROD_SECRET},
             "prometheus-token": {"secret": PROMETHEUS_TOKEN},
             "dev-swarm": _cert("dev"), "staging-swarm": _cert("staging"),
             "production-swarm": _cert("production")}
HOURS = 3600
# Approved at both gates, each after others tried: mallory is no submitter of staging; bob
# none of production; alice is, through her group ops.
APPROVED = [{"user": "mallory", "after": 60}, {"user": "qa", "after": 120},
            {"user": "bob", "groups": ["devs"], "after": 30},
            {"user": "alice", "groups": ["ops"], "after": 90}]
LIBRARY_ENVIRONMENTS = ("@Library('shipway') _\n"
                        "shipwayPipeline(service: 'hello', credentials: 'registry-creds',\n"
                        "  prometheusToken: 'prometheus-token', environments: [\n"
                        "    [name: 'dev', credentials: 'dev-swarm'],\n"
                        "    [name: 'staging', credentials: 'staging-swarm',\n"
                        "     approval: [submitter: 'qa', timeoutMinutes: 240]],\n"
                        "    [name: 'production', credentials: 'production-swarm',\n"
                        "     registryCredentials: 'prod-registry',\n"
                        "     approval: [submitter: 'ops, release-managers']]])\n")


def _environment_scenarios(add):
    three = render.render_jenkinsfile(golden("three-environments"), "hello")

    def envs(name, answers=(), script=three, credentials=ENV_CREDS, **kwargs):
        add(name, script, catalog=True, credentials=credentials, answers=answers, **kwargs)

    envs("envs-approved", APPROVED)
    envs("envs-library", APPROVED, script=LIBRARY_ENVIRONMENTS, library_dirs=[LIBRARY])
    envs("envs-feature", branch="feature/x")
    # Only people who may not approve answer staging's gate: it times out after 4 hours.
    envs("envs-nobody-approves", [{"user": "mallory", "after": 60},
                                  {"user": "bob", "groups": ["devs"], "after": 2 * HOURS}])
    envs("envs-library-nobody-approves", [{"user": "mallory", "after": 60}],
         script=LIBRARY_ENVIRONMENTS, library_dirs=[LIBRARY])
    # qa in time at staging; ops one second after production's day.
    envs("envs-too-late", [{"user": "qa", "after": 4 * HOURS - 1},
                           {"user": "alice", "groups": ["ops"], "after": 24 * HOURS + 1}])
    # A group named in another case, and an administrator, may approve (canSettle).
    envs("envs-group-and-admin", [{"user": "carol", "groups": ["QA"]},
                                  {"user": "root", "admin": True}])
    envs("envs-aborted", [{"user": "mallory", "action": "abort", "after": 5},
                          {"user": "qa", "action": "abort", "after": 10}])
    # Build #1 waits at staging's gate (it passed 2). Build #2 reaches the same gate (passes
    # 2: #1 goes on waiting), then is approved there (passes 3): #1 is aborted.
    envs("envs-superseded-at-gate", [{"build": 2, "passes": 2, "after": 60},
                                     {"build": 2, "passes": 3, "after": 120}],
         milestones={2: None})
    # A newer build that used milestones ends (here: rejected at its gate): the older build
    # still waiting is aborted too (pipeline-milestone-step's Listener.onCompleted).
    envs("envs-newer-ended", [{"build": 2, "passes": 2, "after": 60},
                              {"build": 2, "completes": True, "after": 120}],
         milestones={2: None})
    # Build #2 already passed staging's gate (3): build #1, slower, reaches its first
    # milestone after that and is aborted there, before it deploys anything.
    envs("envs-older-after-newer", milestones={2: 3})
    # Build #3 passes both gates: older #2 (waiting at staging) and #1 (waiting at production)
    # are aborted as it passes each.
    envs("envs-newest-passes", APPROVED, milestones={1: 4, 2: 2}, build_number=3)
    envs("envs-wrong-kind", credentials={**ENV_CREDS, "dev-swarm": {"username": "u",
                                                                    "password": SECRET}})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if os.path.exists("/tmp/pwned"):
        os.remove("/tmp/pwned")
    scenarios = _scenarios(tmp_path_factory)
    results = run_pipelines([run for _, run in scenarios.values()])
    return {name: (work, result) for (name, (work, _)), result in zip(scenarios.items(), results)}


def _ok(result):
    assert result.returncode == 0, result.log
    return result


def test_main_branch_runs_every_stage(runs):
    work, result = runs["main"]
    _ok(result)
    assert result.stages == {"Checkout": "ran", "Build": "ran", "Image": "ran", "Push": "ran",
                             "Deploy": "ran"}
    base = ["--catalog", "shipway.yml", "--service", "hello"]
    calls = recorded_calls(work)
    assert [c["argv"] for c in calls] == [["build", *base], ["image", *base], ["push", *base],
                                          ["deploy", *base, "--json"], ["status", *base, "--json"]]
    # Only push and deploy see the registry login.
    assert [c["password"] for c in calls] == [None, None, SECRET, SECRET, None]
    assert calls[2]["user"] == "ci"
    assert json.loads((work / "shipway-deploy.json").read_text())["image"] == "reg/x@sha256:bbb"
    assert sorted(result.archived) == ["shipway-deploy.json", "shipway-status.json"]
    assert SECRET not in result.log


def test_other_branch_does_not_deploy(runs):
    work, result = runs["feature"]
    _ok(result)
    assert result.stages["Push"] == "ran" and result.stages["Deploy"] == "skipped"
    assert [c["argv"][0] for c in recorded_calls(work)] == ["build", "image", "push"]
    assert 'Stage "Deploy" skipped due to when conditional' in result.log


def test_deploy_branch_patterns_in_multibranch_jobs(runs):
    assert _ok(runs["multibranch"][1]).stages["Deploy"] == "ran"
    # `release/*` matches within one path segment only, as Jenkins' Ant patterns do.
    assert _ok(runs["not-a-release"][1]).stages["Deploy"] == "skipped"


def test_hostile_values_reach_sh_literally(runs):
    work, result = runs["hostile"]
    _ok(result)
    assert result.stages["Deploy"] == "ran"   # the branch "$(touch /tmp/pwned)" matched literally
    calls = recorded_calls(work)
    assert {c["argv"][0] for c in calls} == {"build", "image", "push", "deploy", "status"}
    for call in calls:
        assert call["argv"][1:5] == ["--catalog", HOSTILE_CATALOG_PATH, "--service", "evil"]
    # The credential id arrived exactly: withCredentials found it in the store.
    assert [c["password"] for c in calls if c["argv"][0] in ("push", "deploy")] == [SECRET] * 2
    assert not os.path.exists(work / "pwned") and not os.path.exists("/tmp/pwned")
    assert SECRET not in result.log


@pytest.mark.parametrize("i", range(len(NASTY)), ids=[repr(v) for v in NASTY])
def test_hostile_values_in_every_groovy_field_stay_data(runs, i):
    """Credentials id, agent label and deploy branch, each holding NASTY[i], reach Jenkins
    exactly: the label as given, the credentials found by their id, the branch matched."""
    value = NASTY[i]
    base = ["--catalog", "shipway.yml", "--service", "s"]
    work, result = runs[f"field-{i}"]
    _ok(result)
    assert result.agent == {"label": value}
    assert result.stages["Deploy"] == "ran"
    calls = recorded_calls(work)
    assert [c["argv"] for c in calls] == [["build", *base], ["image", *base], ["push", *base],
                                          ["deploy", *base, "--json"], ["status", *base, "--json"]]
    assert [c["password"] for c in calls] == [None, None, SECRET, SECRET, None]
    work, result = runs[f"field-rollback-{i}"]
    _ok(result)
    assert result.agent == {"label": value}
    (call,) = recorded_calls(work)
    assert call["argv"] == ["rollback", "--service", "s", "--timeout", "1500ms", "--json"]
    assert call["password"] == SECRET
    assert SECRET not in result.log


def test_failed_stage_fails_the_build_and_skips_the_rest(runs):
    work, result = runs["push-fails"]
    assert result.returncode == 1 and result.result == "FAILURE"
    assert result.stages["Push"] == "failed"
    assert result.stages["Deploy"] == "skipped-after-failure"
    assert "script returned exit code 3" in result.log


def test_failed_deploy_still_archives_what_runs(runs):
    # After a failed deploy (swarm may have rolled back) the build keeps the deploy record and
    # the status of what runs now, from the rendered pipeline and the library alike.
    for name in ("deploy-fails", "library-deploy-fails"):
        work, result = runs[name]
        assert result.returncode == 1 and result.stages["Deploy"] == "failed", name
        assert [c["argv"][0] for c in recorded_calls(work)][-2:] == ["deploy", "status"], name
        assert sorted(result.archived) == ["shipway-deploy.json", "shipway-status.json"], name


def test_missing_credential_fails_the_push(runs):
    _, result = runs["no-credential"]
    assert result.returncode == 1
    assert "Could not find credentials entry with ID 'registry-creds'" in result.log


def test_harness_masks_secrets_and_never_prints_them(runs):
    _, result = runs["echo-secret"]
    _ok(result)
    assert "the password is ****" in result.log
    assert SECRET not in result.log
    for _, other in runs.values():
        assert not any(secret in other.log for secret in PROMETHEUS_SECRETS)


PROMETHEUS_SECRETS = (SECRET, PROMETHEUS_SECRET, PROMETHEUS_TOKEN)


def _no_secret_anywhere(work, result):
    """No secret in the log, the sh scripts, any argv of shipway or a file the build left."""
    for secret in PROMETHEUS_SECRETS:
        assert secret not in result.log
        assert not any(secret in command for command in result.sh_commands)
        assert not any(secret in word for call in recorded_calls(work) for word in call["argv"])
        for path in work.iterdir():
            if path.is_file() and path.name != ".calls.jsonl":
                assert secret not in path.read_text(errors="replace"), path


@pytest.mark.parametrize("name, rendered", [
    ("prometheus-login", ["prom", PROMETHEUS_SECRET, None]),
    ("prometheus-token", [None, None, PROMETHEUS_TOKEN])])
def test_rendered_pipeline_binds_the_prometheus_credential_around_deploy_only(
        runs, name, rendered):
    """jenkins.prometheus_credentials / prometheus_token reach `shipway deploy` (analysis,
    deploy markers) as the variables prometheus.py reads, and no other stage."""
    work, result = runs[name]
    _ok(result)
    calls = recorded_calls(work)
    assert [c["argv"][0] for c in calls] == ["build", "image", "push", "deploy", "status"]
    none = [None, None, None]
    assert [c["prometheus"] for c in calls] == [none, none, none, rendered, none]
    registry = SECRET if name == "prometheus-login" else None
    assert [c["password"] for c in calls] == [None, None, registry, registry, None]
    _no_secret_anywhere(work, result)
    work, result = runs[f"{name}-rollback"]
    _ok(result)
    (call,) = recorded_calls(work)
    assert call["argv"][0] == "rollback" and call["prometheus"] == rendered
    _no_secret_anywhere(work, result)


def test_a_prometheus_credential_of_the_wrong_kind_fails_the_deploy(runs):
    """A Username with password credential where the catalog says prometheus_token (Secret
    text): the deploy step fails as credentials binding fails it, before shipway runs."""
    work, result = runs["prometheus-wrong-kind"]
    assert result.returncode == 1 and result.stages["Deploy"] == "failed"
    assert ("Credentials 'prometheus-token' is of type 'Username with password' where "
            "'org.jenkinsci.plugins.plaincredentials.StringCredentials' was expected"
            in result.log)
    assert "deploy" not in [c["argv"][0] for c in recorded_calls(work)]
    assert PROMETHEUS_SECRET not in result.log


def test_library_binds_the_prometheus_credential_as_the_rendered_pipeline_does(runs):
    work, result = runs["library-prometheus"]
    _ok(result)
    calls = recorded_calls(work)
    none = [None, None, None]
    assert [(c["argv"][0], c["prometheus"]) for c in calls] == [
        ("build", none), ("image", none), ("push", none),
        ("deploy", ["prom", PROMETHEUS_SECRET, None]), ("status", none)]
    _no_secret_anywhere(work, result)
    work, result = runs["library-rollback-token"]
    _ok(result)
    releases, call = recorded_calls(work)
    assert releases["prometheus"] == none      # bound around the rollback only
    assert call["prometheus"] == [None, None, PROMETHEUS_TOKEN] and call["password"] is None
    _no_secret_anywhere(work, result)
    work, result = runs["library-prometheus-both"]
    assert result.returncode == 1 and recorded_calls(work) == []
    assert "give prometheusCredentials or prometheusToken, not both" in result.log


def test_rollback_script_sets_description(runs):
    work, result = runs["rollback"]
    _ok(result)
    (call,) = recorded_calls(work)
    assert call["argv"] == ["rollback", "--service", "hello", "--timeout", "120s", "--json"]
    assert call["password"] == SECRET
    assert result.description == "from reg/x@sha256:aaa to reg/x@sha256:bbb"
    assert result.params == {"RELEASE": "previous"}
    assert result.archived == ["shipway-rollback.json"]


def test_rollback_release_parameter_is_passed_as_data(runs):
    work, result = runs["rollback-release"]
    _ok(result)
    (call,) = recorded_calls(work)
    assert call["argv"][-2:] == ["--to", "it's $(id) ${HOME}"]


def test_library_pipeline_matches_the_rendered_one(runs):
    work, result = runs["library-main"]
    _ok(result)
    assert result.stages["Deploy"] == "ran"
    base = ["--service", "hello", "--catalog", "shipway.yml"]
    calls = recorded_calls(work)
    assert [c["argv"] for c in calls] == [["build", *base], ["image", *base], ["push", *base],
                                          ["deploy", *base, "--json"], ["status", *base, "--json"]]
    assert [c["password"] for c in calls] == [None, None, SECRET, SECRET, None]
    # The library's scripts only name variables: no value is ever part of the script text.
    assert all("hello" not in cmd for cmd in result.sh_commands)
    work, result = runs["library-feature"]
    assert _ok(result).stages["Deploy"] == "skipped"


def test_library_rollback(runs):
    """The library's rollback button picks (tests/integration/test_groovy_picker.py has the
    whole picker): the default release, and the reason as data."""
    work, result = runs["library-rollback"]
    _ok(result)
    releases, call = recorded_calls(work)
    assert releases["argv"] == ["releases", "--service", "hello", "--json"]
    assert call["argv"] == ["rollback", "--service", "hello", "--timeout", "60s",
                            "--to", "#1", "--json"]
    assert result.description == "from reg/x@sha256:aaa to reg/x@sha256:bbb by ops: it's $(id)"


def test_groovy_literals_round_trip(runs):
    work, result = runs["literals"]
    _ok(result)
    for i, value in enumerate(NASTY):
        assert (work / f"lit-{i}.txt").read_bytes().decode("utf-8") == value, repr(value)


def test_unknown_dsl_is_a_harness_gap_not_a_failure(runs):
    _, result = runs["gap"]
    assert result.returncode == HARNESS_GAP
    assert "notAStep" in result.log


@pytest.mark.parametrize("row", range(len(BRANCH_TABLE)),
                         ids=[f"{p}~{b}" for p, b, _ in BRANCH_TABLE])
def test_library_and_rendered_pipeline_pick_the_same_deploy_branches(runs, row):
    """The shared library's isDeployBranch and the rendered `when { branch }` (run by the
    harness with Ant's own matchPath) give the table's answer, Jenkins' rule."""
    patterns, branch, deploys = BRANCH_TABLE[row]
    expected = "ran" if deploys else "skipped"
    assert _ok(runs[f"branch-rendered-{row}"][1]).stages["Deploy"] == expected
    assert _ok(runs[f"branch-library-{row}"][1]).stages["Deploy"] == expected


# ---------------------------------------------------------------------------- environments

ENV_BASE = ["--catalog", "shipway.yml", "--service", "hello"]
DELIVERED = [("build", None), ("image", None), ("push", None), ("deploy", "dev"),
             ("status", "dev"), ("promote", "staging"), ("status", "staging"),
             ("promote", "production"), ("status", "production")]


def _where(call):
    """(subcommand, the environment it acts on) of a recorded shipway call."""
    argv = call["argv"]
    for flag in ("--environment", "--to"):
        if flag in argv:
            return argv[0], argv[argv.index(flag) + 1]
    return argv[0], None


def _certs(call):
    """{variable: the environment whose certificate it holds} of a call."""
    return {name: value["cert"].replace("CERT-", "")
            for name, value in call["env"].items() if name.startswith("DOCKER_CERT_PATH")}


@pytest.mark.parametrize("name", ["envs-approved", "envs-library"])
def test_environments_build_once_then_deploy_and_promote_after_each_approval(runs, name):
    work, result = runs[name]
    _ok(result)
    calls = recorded_calls(work)
    assert [_where(c) for c in calls] == DELIVERED
    deploy, promote_staging, promote_production = calls[3], calls[5], calls[7]
    assert promote_staging["argv"][-7:] == ["--from", "dev", "--to", "staging", "--expect-record",
                                            "shipway-deploy-dev.json", "--json"]
    assert set(ENV_BASE) <= set(promote_staging["argv"])
    assert promote_production["argv"][-7:] == ["--from", "staging", "--to", "production",
                                               "--expect-record", "shipway-promote-staging.json",
                                               "--json"]
    # Each promote finds, in its own workspace, the record this build's stage into its source
    # wrote (stashed there, unstashed here): what it checks the source still runs.
    assert promote_staging["expected"]["argv"] == deploy["argv"]
    assert promote_production["expected"]["argv"] == promote_staging["argv"]
    assert all(c["expected"] is None for c in calls if c["argv"][0] != "promote")
    # Each stage binds its own environment's certificate; a promote its source's too.
    assert _certs(deploy) == {"DOCKER_CERT_PATH_DEV": "dev"}
    assert _certs(calls[4]) == {"DOCKER_CERT_PATH_DEV": "dev"}
    assert _certs(promote_staging) == {"DOCKER_CERT_PATH_DEV": "dev",
                                       "DOCKER_CERT_PATH_STAGING": "staging"}
    assert _certs(promote_production) == {"DOCKER_CERT_PATH_STAGING": "staging",
                                          "DOCKER_CERT_PATH_PRODUCTION": "production"}
    assert _certs(calls[8]) == {"DOCKER_CERT_PATH_PRODUCTION": "production"}
    assert all(_certs(c) == {} for c in calls[:3])
    # A bound certificate is a 0700 directory in WORKSPACE@tmp, gone once the step ends.
    for call in (deploy, promote_production):
        for value in call["env"].values():
            if isinstance(value, dict):
                assert value["mode"] == "0o700" and "@tmp/secretFiles/" in value["path"]
                assert not os.path.exists(value["path"])
    assert promote_production["env"]["DOCKER_TLS_VERIFY_PRODUCTION"] == "1"
    # Registry logins: push the plain one; each environment its own, under its own names.
    assert calls[2]["user"] == "ci" and deploy["user"] is None
    assert deploy["env"]["SHIPWAY_REGISTRY_USER_DEV"] == "ci"
    registry = {k: v for k, v in promote_production["env"].items()
                if k.startswith("SHIPWAY_REGISTRY_USER")}
    assert registry == {"SHIPWAY_REGISTRY_USER_STAGING": "ci",
                        "SHIPWAY_REGISTRY_USER_PRODUCTION": "prod"}
    assert not any("DEV" in k for k in promote_production["env"])
    # The approver of each gate reaches its promote (SHIPWAY_APPROVED_BY), and no other.
    assert "SHIPWAY_APPROVED_BY" not in deploy["env"]
    assert promote_staging["env"]["SHIPWAY_APPROVED_BY"] == "qa"
    assert promote_production["env"]["SHIPWAY_APPROVED_BY"] == "alice"
    assert [c["prometheus"][2] for c in (deploy, promote_staging, promote_production)] == \
        [PROMETHEUS_TOKEN] * 3
    # Promotes run in workspaces of their own, from the checkout stashed at the start.
    assert len(result.workspaces) == 3
    assert deploy["cwd"] == result.workspaces[0]
    assert [promote_staging["cwd"], promote_production["cwd"]] == result.workspaces[1:]
    assert all(c["catalog_here"] for c in calls)
    assert result.milestones == [1, 2, 3, 4, 5]
    assert sorted(result.archived) == sorted(
        ["shipway-deploy-dev.json", "shipway-status-dev.json",
         "shipway-promote-staging.json", "shipway-status-staging.json",
         "shipway-promote-production.json", "shipway-status-production.json"])
    _no_secret_anywhere(work, result)
    assert PROD_SECRET not in result.log


@pytest.mark.parametrize("name", ["envs-approved", "envs-library"])
def test_only_the_named_submitters_approve_and_no_executor_waits(runs, name):
    _, result = runs[name]
    staging, production = result.inputs
    assert (staging["submitter"], staging["approver"], staging["outcome"]) == (
        "qa", "qa", "approved")
    assert [r["user"] for r in staging["refused"]] == ["mallory"]
    assert staging["refused"][0]["reason"] == "You need to be qa to submit this."
    assert [r["user"] for r in production["refused"]] == ["bob"]
    assert production["approver"] == "alice"    # through her group ops
    assert not staging["held_executor"] and not production["held_executor"]
    assert all(i["submitterParameter"] == "SHIPWAY_APPROVED_BY" for i in result.inputs)


def test_a_gate_answered_by_nobody_allowed_times_out_and_aborts(runs):
    for name in ("envs-nobody-approves", "envs-library-nobody-approves"):
        work, result = runs[name]
        assert result.returncode == 1 and result.result == "ABORTED", name
        (staging,) = result.inputs
        assert staging["outcome"] == "timeout" and "approver" not in staging, name
        assert "Timeout has been exceeded" in result.log
        assert [_where(c) for c in recorded_calls(work)] == DELIVERED[:5], name
    _, result = runs["envs-nobody-approves"]
    assert result.stages["Approve staging"] == "aborted"
    assert result.stages["Promote to staging"] == "skipped-after-failure"
    assert result.stages["Promote to production"] == "skipped-after-failure"


def test_the_gate_timeouts_are_the_catalogs(runs):
    """staging's 4 h: an answer a second before goes on; production's 1 d: one a second
    after is too late."""
    work, result = runs["envs-too-late"]
    assert result.result == "ABORTED"
    staging, production = result.inputs
    assert staging["outcome"] == "approved" and production["outcome"] == "timeout"
    assert [_where(c) for c in recorded_calls(work)] == DELIVERED[:7]


def test_groups_in_any_case_and_administrators_may_approve(runs):
    work, result = runs["envs-group-and-admin"]
    _ok(result)
    assert [i["approver"] for i in result.inputs] == ["carol", "root"]
    assert recorded_calls(work)[7]["env"]["SHIPWAY_APPROVED_BY"] == "root"


def test_a_submitter_aborts_anyone_else_may_not(runs):
    work, result = runs["envs-aborted"]
    assert result.result == "ABORTED"
    (staging,) = result.inputs
    assert staging["outcome"] == "aborted" and staging["by"] == "qa"
    assert [r["user"] for r in staging["refused"]] == ["mallory"]
    assert "Rejected by qa" in result.log
    assert "promote" not in [c["argv"][0] for c in recorded_calls(work)]


def test_a_branch_that_does_not_deploy_asks_nothing(runs):
    work, result = runs["envs-feature"]
    _ok(result)
    assert result.inputs == []     # `when { beforeInput true }`: decided before asking
    assert [c["argv"][0] for c in recorded_calls(work)] == ["build", "image", "push"]
    for stage in ("Deploy to dev", "Approve staging", "Promote to staging",
                  "Approve production", "Promote to production"):
        assert result.stages[stage] == "skipped", stage
    assert result.milestones == []


def test_an_older_build_waiting_at_a_gate_stops_once_a_newer_one_passes_it(runs):
    work, result = runs["envs-superseded-at-gate"]
    assert result.returncode == 1 and result.result == "NOT_BUILT"
    (staging,) = result.inputs
    # Build #2 reaching the gate left #1 waiting; #2 passing it aborted #1.
    assert [e["passes"] for e in staging["events"]] == [2, 3]
    assert "Superseded by harness#2" in result.log
    assert result.stages["Approve staging"] == "not-built"
    assert "promote" not in [c["argv"][0] for c in recorded_calls(work)]
    work, result = runs["envs-newer-ended"]
    assert result.result == "NOT_BUILT" and "Superseded by harness#2" in result.log


def test_an_older_build_passing_a_milestone_a_newer_one_passed_is_aborted(runs):
    work, result = runs["envs-older-after-newer"]
    assert result.result == "NOT_BUILT"
    assert result.stages["Deploy to dev"] == "not-built"
    assert result.milestones == []
    # Nothing deployed; the stage's post still says what runs there.
    assert [c["argv"][0] for c in recorded_calls(work)] == ["build", "image", "push", "status"]


def test_a_newer_build_passing_each_gate_aborts_the_older_ones_waiting_there(runs):
    _, result = runs["envs-newest-passes"]
    _ok(result)
    # #2 waited at staging's gate (2): aborted when #3 passed 3; #1 at production's (4):
    # when #3 passed 5.
    assert result.milestones == [1, 2, 3, 4, 5]
    assert result.cancelled == [2, 1]


def test_a_certificate_credential_of_the_wrong_kind_fails_the_deploy(runs):
    work, result = runs["envs-wrong-kind"]
    assert result.result == "FAILURE" and result.stages["Deploy to dev"] == "failed"
    assert ("Credentials 'dev-swarm' is of type 'Username with password' where "
            "'org.jenkinsci.plugins.docker.commons.credentials.DockerServerCredentials' was "
            "expected" in result.log)
    assert "deploy" not in [c["argv"][0] for c in recorded_calls(work)]
