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
            'build="41",result="deployed"} 1700000000.000') in text


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
