"""`deploy.analysis` in the catalog (pipeline/catalog/analysis_keys.py): a bad key or value is
one line naming it, and never shows a credential."""
import pytest

from pipeline import catalog
from pipeline.errors import CatalogError

CHECK = {"name": "success-rate", "query": "sum(x)", "min": 0.99}


def load(analysis_block):
    raw = {"services": {"web": {"image": "r/web", "deploy": {"analysis": analysis_block}}}}
    return catalog.from_data(raw, "c.yml").services["web"]


@pytest.mark.parametrize("block,key,text", [
    ({"checks": [{"name": "a", "query": "x"}]}, "deploy.analysis.checks", "needs min or max"),
    ({"checks": [{"name": "a", "query": "x", "min": "high"}]}, "deploy.analysis.checks",
     "check 1, min: must be a number"),
    ({"checks": [{"name": "a", "query": "x", "min": 2, "max": 1}]}, "deploy.analysis.checks",
     "must not be above max"),
    ({"checks": [CHECK, CHECK]}, "deploy.analysis.checks", "used twice"),
    ({"checks": [{"name": "a", "query": "x", "mn": 1}]}, "deploy.analysis.checks",
     "unknown key"),
    ({"no_data": "skip"}, "deploy.analysis.no_data", "fail, pass, wait"),
    ({"interval": "0s"}, "deploy.analysis.interval", "more than 0s"),
    ({"failure_limit": 0}, "deploy.analysis.failure_limit", "1 or more"),
    ({"prometheus": "http://u:secret@prom:9090"}, "deploy.analysis.prometheus",
     "must not carry credentials"),
    ({"prometheus": "prom:9090"}, "deploy.analysis.prometheus", "http://"),
    ({"canary_window": "1s"}, "deploy.analysis.canary_window", "unknown key"),
    ({"checks": [{"name": "a", "query": "x", "fail_min": 0.9}]}, "deploy.analysis.checks",
     "check 1, fail_min: needs min (between fail_min and min a value is inconclusive)"),
    ({"checks": [{"name": "a", "query": "x", "min": 0.9, "fail_min": 0.95}]},
     "deploy.analysis.checks", "check 1, fail_min: must not be above min"),
    ({"checks": [{"name": "a", "query": "x", "max": 0.1, "fail_max": 0.05}]},
     "deploy.analysis.checks", "check 1, fail_max: must not be below max"),
    ({"checks": [{"name": "a", "query": "x", "max": 1, "no_data": "maybe"}]},
     "deploy.analysis.checks", "check 1, no_data: must be one of fail, pass, wait, "
     "inconclusive"),
    ({"checks": [{"name": "a", "query": "x", "max": 1, "dry_run": "yes"}]},
     "deploy.analysis.checks", "check 1, dry_run: must be true or false"),
    ({"checks": [{"name": "a", "query": "x", "http": {"path": "/"}}]},
     "deploy.analysis.checks", "needs query (PromQL) or http (a request), one of them"),
    ({"checks": [{"name": "a"}]}, "deploy.analysis.checks", "needs query (PromQL) or http"),
    ({"checks": [{"name": "a", "http": {"path": "/", "expect_status": 200}, "max": 1}]},
     "deploy.analysis.checks", "check 1, max: is for PromQL checks"),
    ({"checks": [{"name": "a", "http": {"expect_status": 200}}]}, "deploy.analysis.checks",
     "check 1, http.path: is required"),
    ({"checks": [{"name": "a", "http": {"path": "api"}}]}, "deploy.analysis.checks",
     "check 1, http.path: must be a request path starting with /"),
    ({"checks": [{"name": "a", "http": {"path": "/a b"}}]}, "deploy.analysis.checks",
     "http.path: must be a request path"),
    ({"checks": [{"name": "a", "http": {"path": "/", "port": 70000}}]},
     "deploy.analysis.checks", "check 1, http.port: must be 65535 or less"),
    ({"checks": [{"name": "a", "http": {"path": "/", "expect_status": 99}}]},
     "deploy.analysis.checks", "check 1, http.expect_status: must be 100 or more"),
    ({"checks": [{"name": "a", "http": {"path": "/", "body_contains": "a\nb"}}]},
     "deploy.analysis.checks", "check 1, http.body_contains: must be text of one line"),
    ({"checks": [{"name": "a", "http": {"path": "/", "method": "POST"}}]},
     "deploy.analysis.checks", "check 1, http.method: unknown key"),
    ({"on_inconclusive": "ask"}, "deploy.analysis.on_inconclusive",
     "rollback, continue, pause"),
    ({"inconclusive_limit": 0}, "deploy.analysis.inconclusive_limit", "1 or more"),
    ({"pause_timeout": "0s"}, "deploy.analysis.pause_timeout", "more than 0s"),
])
def test_bad_analysis_is_one_line_naming_the_key(block, key, text):
    with pytest.raises(CatalogError) as caught:
        load(block)
    assert f"key {key!r}" in str(caught.value) and text in str(caught.value)
    assert "secret" not in str(caught.value)


def test_an_http_check_gets_its_defaults_and_needs_no_prometheus():
    from pipeline import analysis

    settings = load({"checks": [{"name": "smoke", "http": {"path": "/api/orders?x=1"}}]})
    [check] = settings["deploy"]["analysis"]["checks"]
    assert check["http"] == {"path": "/api/orders?x=1", "expect_status": 200, "requests": 1,
                             "port": 80}
    config = analysis.config(settings)
    assert config.prometheus == "" and config.http == (check,)
