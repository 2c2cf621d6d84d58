"""deploy.analysis without an engine (pipeline/analysis.py): the config, the verdicts, the
tally, the windows, the Prometheus answers (recorded shapes of /api/v1/query), the canary
spec, the markers. Its keys in the catalog: tests/unit/catalog/test_analysis_keys.py."""
import json
import math

import pytest

from pipeline import analysis, catalog, prometheus
from pipeline.errors import UsageError
from pipeline.swarm import canary

CHECK = {"name": "success-rate", "query": "sum(x)", "min": 0.99}


def load(analysis_block):
    raw = {"services": {"web": {"image": "r/web", "deploy": {"analysis": analysis_block}}}}
    return catalog.from_data(raw, "c.yml").services["web"]


def test_the_issue_example_loads_with_these_names():
    settings = load({"prometheus": "http://127.0.0.1:9090", "interval": "2s",
                     "failure_limit": 2, "canary": "20s", "bake": "30s", "no_data": "fail",
                     "checks": [CHECK]})
    config = analysis.config(settings)
    assert (config.interval, config.failure_limit, config.canary, config.bake) == (2, 2, 20, 30)
    assert config.checks[0]["min"] == 0.99 and config.prometheus == "http://127.0.0.1:9090"


def test_checks_without_prometheus_and_none_without_checks():
    with pytest.raises(UsageError, match="no prometheus"):
        analysis.config(load({"checks": [CHECK]}))
    assert analysis.config(load({"prometheus": "http://p:9090"})) is None
    assert analysis.config(catalog.from_data({"services": {"a": {"image": "r/a"}}})
                           .services["a"]) is None


def test_defaults_apply_and_merge_from_catalog_defaults():
    raw = {"defaults": {"deploy": {"analysis": {"prometheus": "http://p:9090", "bake": "5s"}}},
           "services": {"web": {"image": "r/web", "deploy": {"analysis": {"checks": [CHECK]}}}}}
    config = analysis.config(catalog.from_data(raw).services["web"])
    assert config.bake == 5 and config.interval == 10 and config.no_data == "fail"


@pytest.mark.parametrize("value,no_data,verdict,reason", [
    (0.995, "fail", "pass", "0.995 within min 0.99"),
    (0.5, "fail", "fail", "0.5 is below min 0.99"),
    (None, "fail", "fail", "no data (no_data: fail)"),
    (None, "pass", "pass", "no data"),
    (None, "wait", "wait", "no data"),
    (math.nan, "pass", "pass", "no data"),      # 0/0: a ratio over no traffic
    (math.nan, "fail", "fail", "no data"),
])
def test_judge(value, no_data, verdict, reason):
    evaluation = analysis.judge(CHECK, value, no_data, "canary", at=1.0)
    assert evaluation.verdict == verdict and reason in evaluation.reason


def test_judge_max_and_errors_fail_never_pass():
    check = {"name": "errors", "query": "q", "max": 0.05}
    assert analysis.judge(check, 0.2, "pass").reason == "0.2 is above max 0.05"
    failed = analysis.judge(check, None, "pass", error="Prometheus cannot be reached")
    assert failed.verdict == "fail" and "cannot be reached" in failed.reason


def test_tally_counts_each_check_across_windows():
    tally = analysis.Tally(2)
    fail_a = analysis.Evaluation("a", "canary", 0, "fail")
    assert tally.add(fail_a) is None
    assert tally.add(analysis.Evaluation("b", "canary", 0, "fail")) is None
    assert tally.add(analysis.Evaluation("a", "canary", 0, "pass")) is None
    assert tally.add(analysis.Evaluation("a", "bake", 0, "fail")) is not None


def test_ticks():
    assert analysis.ticks(100, 20, 2) == [102 + 2 * i for i in range(10)]
    assert analysis.ticks(0, 5, 2) == [2, 4, 6]      # at most one interval past the end
    assert analysis.ticks(0, 0, 2) == [2]            # at least one evaluation


class FakeClient:
    def __init__(self, answers):
        self.answers = list(answers)

    def value(self, query):
        answer = self.answers.pop(0)
        return (None, answer[6:]) if isinstance(answer, str) else (answer, "")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def sleep(self, seconds):
        self.now += seconds

    def time(self):
        return self.now


def judge_with(answers, **options):
    config = analysis.Config("http://p", (CHECK,), **{"interval": 1.0, **options})
    clock = Clock()
    lines = []
    return analysis.Judge(config, FakeClient(answers), lines.append, clock.sleep,
                          clock.time), clock, lines


def test_window_passes_and_records_every_evaluation():
    judge, clock, lines = judge_with([1.0] * 3)
    judge.window("canary", 3, deadline=2000)
    assert [e.verdict for e in judge.evaluations] == ["pass"] * 3
    assert clock.now == 1003 and len(lines) == 4
    assert judge.record()["windows"] == [{"phase": "canary", "seconds": 3.0}]
    json.dumps(judge.record())


def test_window_fails_at_the_limit_and_names_check_value_bound():
    judge, _, _ = judge_with([0.5, 1.0, 0.4, 1.0], failure_limit=2)
    with pytest.raises(analysis.Failed) as caught:
        judge.window("canary", 10, deadline=2000)
    assert caught.value.line() == ("check success-rate: 0.4 is below min 0.99 "
                                   "(2 failed evaluations, canary)")
    assert len(judge.evaluations) == 3


def test_unreachable_during_the_window_counts_as_failed():
    judge, _, _ = judge_with(["error:cannot be reached"] * 2, failure_limit=2)
    with pytest.raises(analysis.Failed, match="cannot be reached"):
        judge.window("bake", 5, deadline=2000)


def test_wait_holds_the_window_until_data_then_bounded_by_the_deadline():
    judge, clock, _ = judge_with([None, None, None, 1.0], no_data="wait")
    judge.window("canary", 2, deadline=2000)
    assert [e.verdict for e in judge.evaluations] == ["wait", "wait", "wait", "pass"]
    assert clock.now == 1004
    judge, _, _ = judge_with([None] * 10, no_data="wait")
    with pytest.raises(analysis.Failed, match="no data for every check"):
        judge.window("canary", 2, deadline=1005)


# --- Prometheus answers ----------------------------------------------------------------
def test_single_value_from_recorded_answers():
    vector = {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "0.98"]}]}
    assert prometheus.single_value(vector) == 0.98
    assert prometheus.single_value({"resultType": "vector", "result": []}) is None
    assert prometheus.single_value({"resultType": "scalar", "result": [1.7e9, "1"]}) == 1
    assert math.isnan(prometheus.single_value(
        {"resultType": "vector", "result": [{"metric": {}, "value": [1, "NaN"]}]}))
    several = {"resultType": "vector", "result": [
        {"metric": {"code": c}, "value": [1, "1"]} for c in ("2xx", "5xx")]}
    with pytest.raises(prometheus.QueryError, match='2 series, not one .*code="5xx"'):
        prometheus.single_value(several)
    with pytest.raises(prometheus.QueryError, match="matrix"):
        prometheus.single_value({"resultType": "matrix", "result": []})


def test_credentials_come_from_the_environment(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    header = prometheus.auth_header({"SHIPWAY_PROMETHEUS_USER": "ops",
                                     "SHIPWAY_PROMETHEUS_PASSWORD_FILE": str(secret)})
    assert header == "Basic b3BzOnMzY3JldA=="
    assert prometheus.auth_header({"SHIPWAY_PROMETHEUS_TOKEN": "t"}) == "Bearer t"
    assert prometheus.auth_header({}) is None
    with pytest.raises(UsageError, match="together"):
        prometheus.auth_header({"SHIPWAY_PROMETHEUS_USER": "ops"})


def test_unreachable_prometheus_preflight_is_one_usage_error():
    client = prometheus.Client("http://127.0.0.1:9", timeout=1)
    with pytest.raises(UsageError) as caught:
        prometheus.preflight(client, [CHECK])
    text = str(caught.value)
    assert text.startswith("analysis check success-rate: Prometheus at http://127.0.0.1:9 "
                           "cannot be reached") and "nothing was changed" in text


def test_secret_variables_are_kept_from_commands():
    from pipeline.context import SECRET_VARIABLES

    assert {"SHIPWAY_PROMETHEUS_PASSWORD_FILE", "SHIPWAY_PROMETHEUS_TOKEN"} <= set(
        SECRET_VARIABLES)


def test_marker_text():
    text = prometheus.marker_text("web", "#3", 'r/web@sha256:ab"c', "41", "deployed", 1.7e9)
    assert ('shipway_deploy_info{service="web",release="#3",image="r/web@sha256:ab\\"c",'
            'build="41",result="deployed",reason="",dry_run=""} 1700000000.000') in text
    # an automatic rollback's one marker carries the failure
    text = prometheus.marker_text("web", "#2", "r/web:1", "", "auto-rollback", 1.7e9,
                                  reason="check e: 0.2 is above max 0.05")
    assert 'result="auto-rollback",reason="check e: 0.2 is above max 0.05"' in text


# --- the canary spec -------------------------------------------------------------------
def spec(replicas, parallelism):
    return {"Mode": {"Replicated": {"Replicas": replicas}},
            "UpdateConfig": {"Parallelism": parallelism, "Delay": 0, "Order": "start-first",
                             "FailureAction": "rollback", "Monitor": 5_000_000_000}}


@pytest.mark.parametrize("replicas,parallelism,batch", [
    (4, 1, 1), (4, 2, 2), (4, 4, None), (4, 0, None), (1, 1, None), (3, 5, None)])
def test_first_batch(replicas, parallelism, batch):
    assert canary.first_batch(spec(replicas, parallelism)) == batch


def test_canary_spec_changes_only_parallelism_and_delay():
    original = spec(4, 2)
    out = canary.canary_spec(original, 2, 90)
    assert out["UpdateConfig"] == {**original["UpdateConfig"], "Delay": 90_000_000_000}
    assert original["UpdateConfig"]["Delay"] == 0      # a new document


def test_prometheus_credentials_never_in_errors(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hunter2-sentinel")
    env = {"SHIPWAY_PROMETHEUS_USER": "ops", "SHIPWAY_PROMETHEUS_PASSWORD_FILE": str(secret)}
    client = prometheus.Client("http://127.0.0.1:9", env, timeout=1)
    _, error = client.value("up")
    problem = prometheus.push_marker("http://127.0.0.1:9", env, "web", "#1", "r/web", "1",
                                     "deployed", timeout=1)
    for text in (error, problem, repr(client.__dict__.get("base"))):
        assert "hunter2" not in text and "aHVudGVy" not in text
    assert "cannot be reached" in error and "cannot reach" in problem


# --- inconclusive, dry run, rate windows, the schedule -----------------------------------
BAND = {"name": "success-rate", "query": "sum(rate(x[30s]))", "min": 0.99, "fail_min": 0.95}


@pytest.mark.parametrize("check,value,verdict,reason", [
    (BAND, 0.995, "pass", "0.995 within min 0.99 (fail_min 0.95)"),
    (BAND, 0.97, "inconclusive", "0.97 is between fail_min 0.95 and min 0.99"),
    (BAND, 0.95, "inconclusive", "between fail_min 0.95 and min 0.99"),
    (BAND, 0.9, "fail", "0.9 is below fail_min 0.95"),
    ({"name": "e", "query": "q", "max": 0.05, "fail_max": 0.1}, 0.07, "inconclusive",
     "0.07 is between max 0.05 and fail_max 0.1"),
    ({"name": "e", "query": "q", "max": 0.05, "fail_max": 0.1}, 0.2, "fail",
     "0.2 is above fail_max 0.1"),
    ({"name": "e", "query": "q", "min": 1, "max": 5, "fail_max": 9}, 0.5, "fail",
     "0.5 is below min 1"),
])
def test_a_band_between_the_pass_and_fail_bounds_is_inconclusive(check, value, verdict,
                                                                  reason):
    evaluation = analysis.judge(check, value, "fail", "canary", at=1.0)
    assert evaluation.verdict == verdict and reason in evaluation.reason


def test_no_data_inconclusive_and_a_checks_own_no_data():
    assert analysis.judge(CHECK, None, "inconclusive").verdict == "inconclusive"
    own = {**CHECK, "no_data": "pass"}
    assert analysis.judge(own, None, "inconclusive").verdict == "pass"


def test_tally_counts_inconclusive_apart_and_never_a_dry_run():
    tally = analysis.Tally(2, 3)
    maybe = analysis.Evaluation("a", "canary", 0, "inconclusive")
    assert tally.add(maybe) is None and tally.add(maybe) is None
    assert tally.add(analysis.Evaluation("a", "canary", 0, "fail")) is None
    assert tally.add(maybe) is maybe and tally.count(maybe) == 3
    dry = analysis.Evaluation("b", "canary", 0, "fail", dry_run=True)
    assert all(tally.add(dry) is None for _ in range(5)) and "b" not in tally.failed


def test_inconclusive_limit_defaults_to_failure_limit():
    settings = load({"prometheus": "http://p:9090", "failure_limit": 3, "checks": [CHECK]})
    config = analysis.config(settings)
    assert config.inconclusive_limit == 3 and config.on_inconclusive == "rollback"
    settings = load({"prometheus": "http://p:9090", "inconclusive_limit": 1,
                     "on_inconclusive": "pause", "pause_timeout": "30m", "checks": [CHECK]})
    config = analysis.config(settings)
    assert (config.inconclusive_limit, config.on_inconclusive, config.pause_timeout) == (
        1, "pause", 1800)


def judge_checks(checks, answers, **options):
    config = analysis.Config("http://p", tuple(checks), **{"interval": 1.0, **options})
    clock = Clock()
    lines = []
    return analysis.Judge(config, FakeClient(answers), lines.append, clock.sleep,
                          clock.time), clock, lines


def test_window_ends_inconclusive_at_its_limit_and_a_failure_wins():
    judge, _, _ = judge_checks([BAND], [0.97, 0.999, 0.96], inconclusive_limit=2)
    with pytest.raises(analysis.Inconclusive) as caught:
        judge.window("canary", 10, deadline=2000)
    assert caught.value.line() == ("analysis inconclusive: check success-rate: 0.96 is "
                                   "between fail_min 0.95 and min 0.99 (2 inconclusive "
                                   "evaluations, canary)")
    other = {**BAND, "name": "other"}
    # in one round, one check reaches the failure limit and the other the inconclusive one
    judge, _, _ = judge_checks([BAND, other], [0.97, 0.5], failure_limit=1,
                               inconclusive_limit=1)
    with pytest.raises(analysis.Failed) as failed:
        judge.window("canary", 10, deadline=2000)
    assert failed.value.evaluation.check == "other"
    judge, _, _ = judge_checks([BAND], [0.97, 0.97, 1.0], inconclusive_limit=2)
    with pytest.raises(analysis.Inconclusive):
        judge.window("canary", 3, deadline=2000)
    judge.forgive_inconclusive()   # on_inconclusive: continue judges on from nothing
    judge.window("bake", 1, deadline=2000)


def test_a_dry_run_check_is_judged_recorded_and_never_decides():
    dry = {"name": "p99", "query": "q", "max": 0.5, "dry_run": True}
    judge, _, lines = judge_checks([CHECK, dry], [1.0, 0.9, 1.0, None, 1.0, 0.8],
                                   failure_limit=1, no_data="wait")
    judge.window("canary", 3, deadline=2000)
    verdicts = [(e.check, e.verdict, e.dry_run) for e in judge.evaluations]
    assert verdicts == [("success-rate", "pass", False), ("p99", "fail", True),
                        ("success-rate", "pass", False), ("p99", "wait", True),
                        ("success-rate", "pass", False), ("p99", "fail", True)]
    assert any(line.endswith("(dry run: never decides)") and "p99 fail" in line
               for line in lines)
    record = judge.record()
    assert record["dry_run_findings"] == ["p99: 2 of 3 evaluations failed"]
    assert [e["dry_run"] for e in record["evaluations"]] == [False, True] * 3


@pytest.mark.parametrize("query,seconds", [
    ("sum(rate(x[10s])) / sum(rate(x[1m30s]))", 90),
    ("max_over_time(rate(x[1m])[5m:30s])", 300),
    ("up", 0), ('x{le="[1s]"}', 1),   # a label value that looks like one counts too: long
])
def test_rate_window(query, seconds):
    assert analysis.rate_window(query) == seconds


def test_bake_evaluations_say_when_their_window_reaches_before_the_bake():
    check = {"name": "e", "query": "sum(rate(x[3s]))", "max": 0.05}
    judge, _, lines = judge_checks([check], [0.0] * 4)
    judge.window("bake", 4, deadline=2000, since_start=True)
    reach = [e.before_start_s for e in judge.evaluations]
    assert reach == [2.0, 1.0, None, None]
    assert lines[1].endswith("(its rate window reaches 2s before the bake began)")
    assert "before_start_s" not in judge.evaluations[-1].summary()


def test_schedule_lines_say_windows_intervals_and_the_worst_case():
    config = analysis.Config("http://p", (
        {"name": "e", "query": "sum(rate(x[10s]))", "max": 0.05, "fail_max": 0.1},
        {"name": "p99", "query": "q[2s]", "max": 1, "dry_run": True},
        {"name": "smoke", "http": {"path": "/api/orders", "expect_status": 200,
                                   "requests": 3, "port": 8080}}),
        interval=2.0, failure_limit=2, canary=20.0, bake=30.0, inconclusive_limit=2,
        on_inconclusive="pause")
    lines = analysis.schedule_lines(config)
    assert lines[0] == (
        "analysis: canary 20s, bake 30s (from when no container of the old release runs), "
        "each check every 2s; a check that fails 2 times rolls back, at most 6s after it "
        "starts failing (interval x failure_limit + one interval); 2 inconclusive: pause; "
        "a good release is judged after at most 54s")
    assert lines[1] == ("analysis: check e: max 0.05 (fail_max 0.1), rate window 10s: the "
                        "bake's first 4 evaluations (until 10s after the old release stopped) "
                        "count traffic from before too")
    assert lines[2] == "analysis: check p99: max 1, rate window 2s (dry run: never decides)"
    assert lines[3] == ("analysis: check smoke: HTTP GET /api/orders on port 8080 of each task "
                        "of the new release, 3 requests each, expecting 200")
    short = analysis.Config("http://p", ({"name": "e", "query": "q[1m]", "max": 1},),
                            interval=1.0, bake=4.0)
    assert "longer than the bake (4s): every bake evaluation" in \
        analysis.schedule_lines(short)[1]


def test_http_verdicts():
    smoke = {"name": "smoke", "http": {"path": "/x"}}
    assert analysis.judge_http(smoke, 0, "3 of 3 answered 200", "fail").verdict == "pass"
    failed = analysis.judge_http(smoke, 2, "2 of 3 requests failed", "pass")
    assert failed.verdict == "fail" and failed.value == 2.0
    assert analysis.judge_http(smoke, None, "", "wait").verdict == "wait"
    assert analysis.judge_http(smoke, None, "", "pass", error="probe: x").verdict == "fail"


def test_prometheus_lines_carry_no_python_errno():
    client = prometheus.Client("http://127.0.0.1:9", timeout=1)
    _, error = client.value("up")
    assert error == "Prometheus at http://127.0.0.1:9 cannot be reached: connection refused"
    problem = prometheus.push_marker("http://127.0.0.1:9", {}, "web", "", "", "", "deployed",
                                     timeout=1)
    assert problem == "cannot reach http://127.0.0.1:9: connection refused"
