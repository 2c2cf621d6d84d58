"""A catalog group's rendered pipeline and rollback job (pipeline/render_group.py), compiled
with groovyc and run in the pipeline harness (tests/support/groovy) with a stand-in `shipway`:
the members the catalog builds are built, imaged and pushed one after the other, then the
group is deployed once; with environments, a deploy per environment after its approval, in
workspaces of their own that hold this build's checkout and push records; the rollback job
offers shipway's group release lines, default first, only to the environment's submitters,
and rolls back to the pick with who and why as variables, never as code.
"""
import json
import os
import stat
import textwrap

import pytest

from pipeline import catalog, render_group
from pipeline.catalog.groups import Group, Step
from pipeline.swarm import group_plan
from pipeline.swarm.group_plan import MemberReading
from pipeline.swarm.group_releases import GroupRelease
from tests.support.groovy import (
    compile_groovy,
    groovy_available,
    pipeline_run,
    recorded_calls,
    run_scenarios,
)

pytestmark = [pytest.mark.groovy,
              pytest.mark.skipif(not groovy_available(), reason="groovy/groovyc not installed")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "golden")
SECRET = "s3cr3t-Pa55"
PROM_SECRET = "pr0m-Pa55"
TOKEN = "t0ken-XYZ"
GIT_SECRET = "g1t-Pa55"
# What a person types at 3 a.m., and what must stay data all the way to shipway.
REASON = "it's `id` $(touch /tmp/pwned) ${HOME} \"500s\" \\ after #3"
NASTY = ["it's", 'say "hi"', "back\\slash", "${env.HOME}", "$(id)", "`id`", "]]>", "&amp;",
         "\\u0027", "ünï €"]


def _cert(name):
    return {"client_key": f"KEY-{name}", "client_cert": f"CERT-{name}", "ca_cert": f"CA-{name}"}


CREDENTIALS = {"registry-creds": {"username": "ci", "password": SECRET},
               "prometheus-token": {"secret": TOKEN},
               "prometheus-login": {"username": "prom", "password": PROM_SECRET},
               "git-creds": {"username": "git", "password": GIT_SECRET},
               "staging-swarm": _cert("staging"), "production-swarm": _cert("production")}

# Stands in for shipway: logs its argv, the variables a stage binds (a bound certificate as its
# cert.pem), the push records and whether the catalog is in its working directory; `push`
# leaves a push record as shipway's does; `releases --group --json` prints FAKE_RELEASES;
# `rollback --group` a record of where it went; FAKE_SHIPWAY_FAIL_<stage>_<service> fails one.
FAKE_SHIPWAY = textwrap.dedent("""\
    #!/usr/bin/env python3
    import glob, json, os, sys
    argv = sys.argv[1:]
    env = {}
    for name, value in os.environ.items():
        if name.startswith("DOCKER_CERT_PATH"):
            with open(os.path.join(value, "cert.pem"), encoding="utf-8") as handle:
                env[name] = handle.read()
        elif name.startswith(("DOCKER_TLS_VERIFY", "SHIPWAY_REGISTRY_", "SHIPWAY_PROMETHEUS_",
                              "SHIPWAY_APPROVED_BY", "SHIPWAY_REASON", "SHIPWAY_ROLLBACK_TO")):
            env[name] = value
    pushed = sorted(os.path.basename(p) for p in glob.glob(".shipway/*.push.json"))
    with open(os.environ["FAKE_SHIPWAY_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv, "env": env, "cwd": os.getcwd(), "pushed": pushed,
                              "catalog_here": os.path.exists("shipway.yml")}) + "\\n")
    service = argv[argv.index("--service") + 1] if "--service" in argv else "group"
    code = int(os.environ.get(f"FAKE_SHIPWAY_FAIL_{argv[0]}_{service}", "0"))
    if argv[0] == "push" and not code:
        os.makedirs(".shipway", exist_ok=True)
        with open(f".shipway/{service}.push.json", "w", encoding="utf-8") as handle:
            json.dump({"reference": f"reg/{service}@sha256:" + "a" * 64}, handle)
    elif argv[0] == "releases":
        with open(os.environ["FAKE_RELEASES"], encoding="utf-8") as handle:
            sys.stdout.write(handle.read())
    elif argv[0] == "rollback":
        to = int(argv[argv.index("--to") + 1].lstrip("#"))
        print(json.dumps({"group": "shop", "ok": True, "to": to, "from": 3, "members": {}}))
    elif "--json" in argv:
        print(json.dumps({"group": "shop", "ok": True}))
    sys.exit(code)
""")


def golden(feature):
    return catalog.load(os.path.join(GOLDEN, feature, "catalog.yml"))


def group_releases_listed():
    """What `shipway releases --group shop --json` says of three group releases, #3 running:
    group_plan's own entries (#2 the default)."""
    shop = Group("shop", (Step(("api",)), Step(("web",))))
    members = ("api", "web")
    recorded = [GroupRelease(seq, "shop", {m: {"service": m, "release_id": f"{m}-{seq}",
                                               "seq": seq + 4} for m in members},
                             created="2026-12-06T07:00:00Z", build_number=str(40 + seq),
                             commit=f"{seq}" * 40, deployed_by="jenkins")
                for seq in (3, 2, 1)]
    readings = {m: MemberReading(m, m, exists=True, running_seq=7, running_id=f"{m}-3")
                for m in members}
    now = group_plan.picker.parse_time("2026-12-06T09:00:00Z")
    return group_plan.entries(shop, recorded, readings, now)


LISTED = group_releases_listed()
LINE = {entry["seq"]: entry["choice"] for entry in LISTED}
OPS = {"user": "alice", "groups": ["ops"], "after": 30}
APPROVED = [{"user": "mallory", "after": 60}, {"user": "qa", "after": 120},
            {"user": "bob", "groups": ["devs"], "after": 30},
            {"user": "alice", "groups": ["ops"], "after": 90}]


def _scenarios(tmp_path_factory):
    scenarios = {}

    def add(name, script, extra_env=None, listed=LISTED, **kwargs):
        work = tmp_path_factory.mktemp(name)
        fake = work / ".bin" / "shipway"
        fake.parent.mkdir()
        fake.write_text(FAKE_SHIPWAY)
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        (work / ".releases.json").write_text(json.dumps(listed))
        repository = work / ".repository"       # what the `git` step checks out
        repository.mkdir()
        (repository / "shipway.yml").write_text("# the group repository's catalog\n")
        (work / "shipway.yml").write_text("# the checkout of the pipeline job\n")
        env = {"PATH": f"{fake.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(work),
               "FAKE_SHIPWAY_LOG": str(work / ".calls.jsonl"),
               "FAKE_RELEASES": str(work / ".releases.json"), **(extra_env or {})}
        scenarios[name] = (work, pipeline_run(script, workdir=work, env=env,
                                              credentials=CREDENTIALS, repository=repository,
                                              **kwargs))

    group, envs = golden("group"), golden("group-environments")
    pipeline, delivered = (render_group.render_jenkinsfile(group, "shop"),
                           render_group.render_jenkinsfile(envs, "shop"))
    add("main", pipeline, branch="main")
    add("feature", pipeline, branch="feature/x")
    add("push-fails", pipeline, {"FAKE_SHIPWAY_FAIL_push_worker": "1"}, branch="main")
    add("stack", render_group.render_jenkinsfile(golden("group-stack"), "shop-stack"))
    add("envs-approved", delivered, branch="trunk", answers=APPROVED)
    add("envs-release-branch", delivered, branch="release/2", answers=APPROVED[:2])
    add("envs-nobody-approves", delivered, branch="trunk",
        answers=[{"user": "mallory", "after": 60}, {"user": "bob", "after": 5 * 3600}])
    rollback = render_group.render_rollback(group, "shop")
    production = render_group.render_rollback(envs, "shop", "production")
    add("rollback-default", rollback, answers=[{**OPS, "parameters": {"REASON": REASON}}])
    add("rollback-pick", rollback, answers=[{"user": "bob", "parameters": {"RELEASE": 1}}])
    add("rollback-production", production,
        answers=[{"user": "mallory", "after": 10, "parameters": {"RELEASE": 1}},
                 {**OPS, "parameters": {"RELEASE": 1, "REASON": REASON}}])
    add("rollback-aborted", production, answers=[{**OPS, "action": "abort"}])
    add("rollback-nothing", rollback, answers=[], listed=[e for e in LISTED if e["running"]])
    return scenarios


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if os.path.exists("/tmp/pwned"):
        os.remove("/tmp/pwned")
    scenarios = _scenarios(tmp_path_factory)
    ran = run_scenarios(scenarios, timeout=900)
    assert not os.path.exists("/tmp/pwned"), "a reason was run as shell"
    return ran


def _ok(result):
    assert result.returncode == 0, result.log
    return result


def _no_secret(work, result):
    for secret in (SECRET, PROM_SECRET, TOKEN, GIT_SECRET):
        assert secret not in result.log
        for name in os.listdir(work):
            path = os.path.join(work, name)
            if os.path.isfile(path) and not name.startswith("."):
                with open(path, encoding="utf-8", errors="replace") as handle:
                    assert secret not in handle.read(), name


GROUP_BASE = ["--catalog", "shipway.yml", "--group", "shop"]


def _svc(name):
    return ["--catalog", "shipway.yml", "--service", name]


# ---------------------------------------------------------------------------- compiling

def test_every_group_script_compiles_with_groovyc():
    sources = {}
    for feature in ("group", "group-environments", "group-stack", "group-notify"):
        cat = golden(feature)
        for name in render_group.managed_groups(cat):
            stem = f"{feature}_{name}".replace("-", "_")
            sources[f"{stem}_Jenkinsfile"] = render_group.render_jenkinsfile(cat, name)
            for env in list(cat.environments) or [None]:
                sources[f"{stem}_rollback_{env}"] = render_group.render_rollback(cat, name, env)
    for i, value in enumerate(NASTY):
        cat = catalog.from_data({"version": 1, "services": {
            "api": {"image": "127.0.0.1:5000/x/api", "build": "make"}},
            "groups": {"g": {"steps": ["api"], "jenkins": {
                "repo": value, "branch": value, "credentials": value, "agent": value,
                "deploy_branches": [value]}}}}, "hostile.yml")
        sources[f"hostile_{i}_Jenkinsfile"] = render_group.render_jenkinsfile(cat, "g")
        sources[f"hostile_{i}_rollback"] = render_group.render_rollback(cat, "g")
    code, output = compile_groovy(sources)
    assert code == 0, output
    assert len(sources) == 12 + 2 * len(NASTY)


# ---------------------------------------------------------------------------- the pipeline

def test_the_group_pipeline_builds_each_member_then_deploys_the_group(runs):
    work, result = runs["main"]
    _ok(result)
    assert list(result.stages) == [
        "Checkout", "Image migrate", "Push migrate", "Build worker", "Image worker",
        "Push worker", "Build api", "Image api", "Push api", "Deploy"]
    assert set(result.stages.values()) == {"ran"}
    calls = recorded_calls(work)
    assert [c["argv"] for c in calls] == [
        ["image", *_svc("migrate")], ["push", *_svc("migrate")],
        ["build", *_svc("worker")], ["image", *_svc("worker")], ["push", *_svc("worker")],
        ["build", *_svc("api")], ["image", *_svc("api")], ["push", *_svc("api")],
        ["deploy", *GROUP_BASE, "--json"], ["status", *GROUP_BASE, "--json"]]
    # The deploy finds every push of this build in the workspace (deploy --group takes them).
    assert calls[8]["pushed"] == ["api.push.json", "migrate.push.json", "worker.push.json"]
    # The registry login around the pushes and the deploy only; the token around the deploy.
    logins = [c["env"].get("SHIPWAY_REGISTRY_PASSWORD") for c in calls]
    assert logins == [None, SECRET, None, None, SECRET, None, None, SECRET, SECRET, None]
    assert [c["env"].get("SHIPWAY_PROMETHEUS_TOKEN") for c in calls] == [None] * 8 + [TOKEN, None]
    assert sorted(result.archived) == ["shipway-deploy.json", "shipway-status.json"]
    _no_secret(work, result)


def test_a_branch_that_does_not_deploy_builds_and_pushes(runs):
    work, result = runs["feature"]
    _ok(result)
    assert result.stages["Deploy"] == "skipped"
    assert [c["argv"][0] for c in recorded_calls(work)][-1] == "push"


def test_a_failing_push_stops_before_the_group_is_deployed(runs):
    work, result = runs["push-fails"]
    assert result.returncode == 1 and result.stages["Push worker"] == "failed"
    assert result.stages["Build api"] == "skipped-after-failure"
    assert result.stages["Deploy"] == "skipped-after-failure"
    assert "deploy" not in [c["argv"][0] for c in recorded_calls(work)]


def test_a_stack_groups_pipeline_builds_the_image_the_catalog_builds(runs):
    work, result = runs["stack"]
    _ok(result)
    assert [c["argv"] for c in recorded_calls(work)] == [
        ["build", *_svc("api")], ["image", *_svc("api")], ["push", *_svc("api")],
        ["deploy", "--catalog", "shipway.yml", "--group", "shop-stack", "--json"],
        ["status", "--catalog", "shipway.yml", "--group", "shop-stack", "--json"]]


# ---------------------------------------------------------------------------- environments

def _where(call):
    argv = call["argv"]
    return argv[0], argv[argv.index("--environment") + 1] if "--environment" in argv else None


def _certs(call):
    return {k: v.replace("CERT-", "") for k, v in call["env"].items()
            if k.startswith("DOCKER_CERT_PATH")}


def test_the_group_is_deployed_to_each_environment_after_its_approval(runs):
    work, result = runs["envs-approved"]
    _ok(result)
    calls = recorded_calls(work)
    assert [_where(c) for c in calls] == [
        ("build", None), ("image", None), ("push", None), ("image", None), ("push", None),
        ("deploy", "dev"), ("status", "dev"), ("deploy", "staging"), ("status", "staging"),
        ("deploy", "production"), ("status", "production")]
    dev, staging, production = calls[5], calls[7], calls[9]
    assert staging["argv"] == ["deploy", *GROUP_BASE, "--environment", "staging", "--json"]
    # Each deploy: its environment's certificate, the group's login under its names.
    assert [_certs(c) for c in (dev, staging, production)] == [
        {}, {"DOCKER_CERT_PATH_STAGING": "staging"},
        {"DOCKER_CERT_PATH_PRODUCTION": "production"}]
    assert production["env"]["DOCKER_TLS_VERIFY_PRODUCTION"] == "1"
    assert production["env"]["SHIPWAY_REGISTRY_PASSWORD_PRODUCTION"] == SECRET
    assert "SHIPWAY_REGISTRY_PASSWORD" not in production["env"]
    assert production["env"]["SHIPWAY_PROMETHEUS_PASSWORD"] == PROM_SECRET
    # The approver of each gate reaches its deploy, for the release record.
    assert "SHIPWAY_APPROVED_BY" not in dev["env"]
    assert (staging["env"]["SHIPWAY_APPROVED_BY"], production["env"]["SHIPWAY_APPROVED_BY"]) == \
        ("qa", "alice")
    # The later deploys run in workspaces of their own, with this build's checkout and push
    # records: what Push pushed is what they deploy.
    assert [c["cwd"] for c in (dev, staging, production)] == result.workspaces
    assert all(c["catalog_here"] for c in (dev, staging, production))
    for call in (dev, staging, production):
        assert call["pushed"] == ["api.push.json", "web.push.json"]
    assert result.milestones == [1, 2, 3, 4, 5]
    staging_gate, production_gate = result.inputs
    assert staging_gate["message"] == "Deploy group shop to staging?"
    assert [r["user"] for r in staging_gate["refused"]] == ["mallory"]
    assert production_gate["approver"] == "alice" and not production_gate["held_executor"]
    _no_secret(work, result)


def test_a_release_branch_deploys_and_stops_at_the_gate_nobody_answered(runs):
    work, result = runs["envs-release-branch"]
    assert result.result == "ABORTED"     # production's day passed with nobody answering
    assert [_where(c) for c in recorded_calls(work)][-2:] == [("deploy", "staging"),
                                                      ("status", "staging")]


def test_nobody_allowed_approves_nothing_after_the_first_environment(runs):
    work, result = runs["envs-nobody-approves"]
    assert result.result == "ABORTED"
    assert result.stages["Deploy to staging"] == "skipped-after-failure"
    assert [_where(c) for c in recorded_calls(work)][-2:] == [("deploy", "dev"), ("status", "dev")]


# ---------------------------------------------------------------------------- rollback

def _parameters(asked):
    return {p["name"]: p for p in asked["parameters"]}


def test_the_rollback_job_offers_shipways_group_releases_default_first(runs):
    work, result = runs["rollback-default"]
    _ok(result)
    [asked] = result.inputs
    assert asked["message"] == f"Roll group shop back. Running now: {LINE[3]}"
    assert _parameters(asked)["RELEASE"]["choices"] == [LINE[2], LINE[1]]
    assert asked["submitter"] is None and not asked["held_executor"]
    releases, rollback = recorded_calls(work)
    assert releases["argv"] == ["releases", *GROUP_BASE, "--json"]
    assert rollback["argv"] == ["rollback", *GROUP_BASE, "--json", "--to", "#2"]
    assert rollback["env"]["SHIPWAY_REASON"] == REASON
    assert rollback["env"]["SHIPWAY_APPROVED_BY"] == "alice"
    assert rollback["env"]["SHIPWAY_REGISTRY_PASSWORD"] == SECRET
    assert "SHIPWAY_REGISTRY_PASSWORD" not in releases["env"]
    assert rollback["env"]["SHIPWAY_PROMETHEUS_TOKEN"] == TOKEN
    assert result.description == f"from group release #3 to #2 by alice: {REASON}"
    assert result.archived == ["shipway-rollback.json"]
    # Both stages check the group's repository out for its catalog, on their own nodes.
    assert [(c["url"], c["branch"], c["credentialsId"], c["changelog"], c["poll"])
            for c in result.checkouts] == [
        ("https://git.example.com/shop/monorepo.git", "main", "git-creds", False, False)] * 2
    assert [c["workspace"] for c in result.checkouts] == result.workspaces
    assert releases["catalog_here"] and rollback["catalog_here"]
    assert releases["cwd"] != rollback["cwd"]
    _no_secret(work, result)


def test_a_picked_group_release_goes_to_rollback_as_its_number(runs):
    work, result = runs["rollback-pick"]
    _ok(result)
    assert recorded_calls(work)[1]["argv"][-2:] == ["--to", "#1"]
    assert result.description == "from group release #3 to #1 by bob"


def test_in_an_environment_only_its_submitters_roll_back_with_its_credentials(runs):
    work, result = runs["rollback-production"]
    _ok(result)
    [asked] = result.inputs
    assert asked["submitter"] == "ops,release-managers"
    assert [r["user"] for r in asked["refused"]] == ["mallory"]
    assert asked["message"].startswith("Roll group shop back in production. Running now: ")
    releases, rollback = recorded_calls(work)
    assert releases["argv"] == ["releases", *GROUP_BASE, "--environment", "production",
                                "--json"]
    assert rollback["argv"][-2:] == ["--to", "#1"]
    for call in (releases, rollback):
        assert _certs(call) == {"DOCKER_CERT_PATH_PRODUCTION": "production"}
        assert call["env"]["DOCKER_TLS_VERIFY_PRODUCTION"] == "1"
    assert rollback["env"]["SHIPWAY_REGISTRY_USER_PRODUCTION"] == "ci"
    assert not any(k.startswith("SHIPWAY_REGISTRY") for k in releases["env"])
    assert rollback["env"]["SHIPWAY_REASON"] == REASON
    _no_secret(work, result)


def test_aborting_the_question_rolls_nothing_back(runs):
    work, result = runs["rollback-aborted"]
    assert result.result == "ABORTED"
    assert [c["argv"][0] for c in recorded_calls(work)] == ["releases"]


def test_with_nothing_to_pick_the_job_fails_before_asking(runs):
    work, result = runs["rollback-nothing"]
    assert result.returncode == 1 and result.inputs == []
    assert "group shop has no other recorded group release to roll back to" in result.log
    assert [c["argv"][0] for c in recorded_calls(work)] == ["releases"]
