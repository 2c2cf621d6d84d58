"""The catalog's `environments:` and a service's per-environment keys."""
import pytest

from pipeline import catalog, imageref
from pipeline.catalog import environments
from pipeline.errors import CatalogError

ENVIRONMENTS = {
    "staging": {"docker_host": "unix:///var/run/docker.sock", "registry": "127.0.0.1:5000",
                "jenkins": {"credentials": "staging-swarm"}},
    "production": {"docker_host": "tcp://prod-manager:2376",
                   "registry": "registry.prod.example:5000",
                   "approval": {"submitter": "ops, release-managers", "timeout": "1d12h"}},
}


def document(service_envs=None, **service):
    entry = {"image": "127.0.0.1:5000/shipway/hello", "environment": {"A": "1", "B": "2"},
             "networks": ["front", "back"],
             "deploy": {"replicas": 2, "labels": {"x": "1"}, "timeout": "60s"}, **service}
    if service_envs is not None:
        entry["environments"] = service_envs
    return {"environments": ENVIRONMENTS, "services": {"hello": entry}}


def load(raw):
    return catalog.from_data(raw, "c.yml", environ={})


def test_environments_in_promotion_order_with_their_settings():
    loaded = load(document())
    assert list(loaded.environments) == ["staging", "production"]
    staging, production = loaded.environments.values()
    assert staging.credentials == "staging-swarm" and staging.approval is None
    assert production.approval == environments.Approval("ops,release-managers", 129600.0)
    assert production.variable_suffix == "_PRODUCTION"


def test_environment_keys_merge_over_the_service_keys_as_flags_do():
    loaded = load(document({
        "staging": {"name": "hello-staging", "deploy": {"replicas": 1}},
        "production": {"environment": ["B=3"], "networks": ["front"],
                       "deploy": {"labels": {"y": "2"}, "timeout": "10m"}}}))
    base = loaded.service("hello")
    staging = loaded.service("hello", "staging")
    production = loaded.service("hello", "production")
    assert (base["name"], base["entry"], base["environment"]) == ("hello", "hello", None)
    assert (staging["name"], staging["entry"], staging["environment"]) == \
        ("hello-staging", "hello", "staging")
    assert staging["service"]["deploy"]["replicas"] == 1
    assert staging["service"]["deploy"]["labels"] == {"x": "1"}
    assert production["name"] == "hello"
    assert production["service"]["environment"] == {"A": "1", "B": "3"}   # maps merge
    assert list(production["service"]["networks"]) == ["front"]           # lists replace
    assert production["service"]["deploy"]["labels"] == {"x": "1", "y": "2"}
    assert production["deploy"]["timeout"] == 600.0
    assert base["service"]["deploy"]["replicas"] == 2      # the service's own untouched


def test_an_environment_registry_moves_the_repository_keeping_its_path():
    loaded = load(document())
    assert loaded.service("hello", "staging")["image"] == "127.0.0.1:5000/shipway/hello"
    assert loaded.service("hello", "production")["image"] == \
        "registry.prod.example:5000/shipway/hello"
    assert imageref.on_registry("shipway/hello", "r.example:5000") == \
        "r.example:5000/shipway/hello"
    assert imageref.on_registry("shipway/hello", None) == "shipway/hello"


def test_a_catalog_without_environments_is_as_before():
    raw = document()
    del raw["environments"]
    loaded = load(raw)
    assert loaded.environments == {} and loaded.variants == {}
    with pytest.raises(CatalogError, match="no environment 'staging'.*environments: none"):
        loaded.service("hello", "staging")


@pytest.mark.parametrize("raw_envs, service_envs, words", [
    ({"Prod": {}}, None, "lower-case"),
    ({"all": {}}, None, "'all' is reserved"),
    ({"staging": {"docker_host": "prod:2376"}}, None, "engine address"),
    ({"staging": {"docker_host": "tcp://u:p@prod:2376"}}, None, "credentials"),
    ({"staging": {"registry": "https://r.example"}}, None, "not a registry host"),
    ({"staging": {"approval": {"submitter": "ops"}}}, None, "first environment"),
    ({"staging": {}, "prod": {"approval": {"timeout": "soon"}}}, None, "not a duration"),
    ({"staging": {"colour": "blue"}}, None, "unknown key"),
    (ENVIRONMENTS, {"qa": {}}, "'environments.qa': is not an environment of the catalog "
                                "(environments: staging, production)"),
    (ENVIRONMENTS, {"staging": {"replics": 1}}, "'environments.staging.replics': unknown key"),
    (ENVIRONMENTS, {"staging": {"name": "bad name"}}, "environments.staging.name"),
    (ENVIRONMENTS, {"staging": {"deploy": {"replicas": -1}}},
     "environments.staging.deploy.replicas"),
])
def test_bad_environments_are_one_line_naming_the_key(raw_envs, service_envs, words):
    raw = document(service_envs)
    raw["environments"] = raw_envs
    with pytest.raises(CatalogError) as caught:
        load(raw)
    assert words in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)


def test_service_environments_without_catalog_environments_names_the_fix():
    raw = document({"staging": {}})
    del raw["environments"]
    with pytest.raises(CatalogError, match="add a top-level 'environments:'"):
        load(raw)
