"""Secrets and configs named after their content (pipeline/swarm/objects.py): names, planning
errors, and which objects garbage collection takes, from Engine JSON recorded on the lab
(tests/fixtures/objects/record.py)."""
import base64
import dataclasses
import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import UsageError
from pipeline.swarm import objects
from pipeline.swarm.objects import (
    KIND_LABEL,
    NAME_LIMIT,
    SERVICE_LABEL,
    SOURCE_LABEL,
    is_valid_name,
    object_name,
    plan,
    references,
    unreferenced,
)

FIXTURES = str(Path(__file__).resolve().parents[2] / "fixtures" / "objects")
KEY = b"fixture-naming-key"
VALUE = "s3cr3t-Value-\u00e9-42"


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


# --- names ---------------------------------------------------------------------------------

def test_name_is_service_name_and_short_sha256_of_content():
    content = b"log_level: info\n"
    name = object_name("web", "app.yml", content)
    assert name == "web_app.yml_" + hashlib.sha256(content).hexdigest()[:10]
    assert object_name("web", "app.yml", content) == name            # stable
    assert object_name("web", "app.yml", b"log_level: debug\n") != name
    assert object_name("api", "app.yml", content) != name


def test_recorded_config_names_are_what_the_function_gives():
    for config in fixture("configs.json"):
        labels = config["Spec"]["Labels"]
        if labels:
            data = base64.b64decode(config["Spec"]["Data"])
            assert config["Spec"]["Name"] == object_name(
                labels[SERVICE_LABEL], labels[SOURCE_LABEL], data)


def test_a_key_makes_the_hash_an_hmac():
    keyed = object_name("web", "db", b"hunter2", key=KEY)
    assert keyed.endswith(hmac.new(KEY, b"hunter2", hashlib.sha256).hexdigest()[:10])
    assert keyed != object_name("web", "db", b"hunter2")
    assert keyed != object_name("web", "db", b"hunter2", key=b"other key")


@pytest.mark.parametrize("service, name", [
    ("Web", "db"), ("my_stack_web", "db_password"), ("a.b-c", "x.y"), ("S", "a b/c:d"),
    ("x" * 63, "db"), ("x" * 63, "y" * 200), ("web", "-leading"), ("web", "\u00fcml\u00e4ut"),
])
def test_odd_and_long_names_are_valid_for_swarm(service, name):
    result = object_name(service, name, b"content")
    assert is_valid_name(result), result
    assert len(result) <= NAME_LIMIT


def test_shortened_and_cleaned_prefixes_stay_apart():
    long_a, long_b = "s" * 60 + "a", "s" * 60 + "b"
    assert object_name(long_a, "db", b"v") != object_name(long_b, "db", b"v")
    assert object_name("web", "a b", b"v") != object_name("web", "a-b", b"v")
    assert object_name("web", "a:b", b"v") != object_name("web", "a/b", b"v")
    # a name that fits and is clean is kept as it is, readable
    assert object_name("my_stack_web", "db", b"v").startswith("my_stack_web_db_")


@given(service=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", fullmatch=True),
       name=st.text(min_size=1, max_size=80), content=st.binary(min_size=1, max_size=50))
def test_every_engine_service_name_and_any_source_name_gives_a_valid_name(service, name,
                                                                          content):
    assert is_valid_name(object_name(service, name, content))


def test_the_validity_check_is_the_engines():
    assert is_valid_name("a") and is_valid_name("a_b.c-d") and is_valid_name("x" * 64)
    for bad in ("", "_a", "a_", "a b", "x" * 65, "a/b", "a:b", "a@b"):
        assert not is_valid_name(bad), bad


# --- planning ------------------------------------------------------------------------------

def test_plans_from_file_and_environment(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.yml").write_bytes(b"a: 1\n")
    configs = plan("web", "config", {"app": {"file": "conf/app.yml"}}, ["app"],
                   str(tmp_path), {})
    assert [c.summary() for c in configs] == [{
        "kind": "config", "source": "app", "name": object_name("web", "app", b"a: 1\n"),
        "origin": "file conf/app.yml", "external": False}]
    assert configs[0].labels == {SERVICE_LABEL: "web", KIND_LABEL: "config",
                                 SOURCE_LABEL: "app"}
    secret, = plan("web", "secret", {"db": {"environment": "DB_PW", "labels": {"team": "x"}}},
                   ["db"], str(tmp_path), {"DB_PW": VALUE}, KEY)
    assert secret.name == object_name("web", "db", VALUE.encode(), KEY)
    assert secret.origin == "environment DB_PW"
    assert secret.labels["team"] == "x" and secret.labels[KIND_LABEL] == "secret"
    assert secret.content.reveal() == VALUE.encode()


def test_a_template_is_another_object_and_a_stacks_label_goes_on_what_is_made(tmp_path):
    (tmp_path / "ds.yml").write_bytes(b"url: {{ .Node.Hostname }}\n")
    plain, = plan("web", "config", {"ds": {"file": "ds.yml"}}, ["ds"], str(tmp_path), {})
    templated, = plan("web", "config", {"ds": {"file": "ds.yml", "template_driver": "golang"}},
                      ["ds"], str(tmp_path), {}, labels={"com.docker.stack.namespace": "mon"})
    assert templated.name != plain.name and templated.name.startswith("web_ds_")
    assert (plain.templating, templated.templating) == (None, "golang")
    assert templated.summary()["template_driver"] == "golang"
    assert templated.labels["com.docker.stack.namespace"] == "mon"
    ext, = plan("web", "config", {"e": {"external": True}}, ["e"], str(tmp_path), {},
                labels={"com.docker.stack.namespace": "mon"})
    assert ext.labels == {}     # an external object is never labelled


def test_only_used_names_are_planned_in_order_once(tmp_path):
    defs = {"a": {"environment": "A"}, "b": {"environment": "B"},
            "unused": {"file": "missing"}}
    wanted = plan("web", "secret", defs, ["b", "a", "b"], str(tmp_path),
                  {"A": "1", "B": "2"}, KEY)
    assert [w.source for w in wanted] == ["b", "a"]


def test_external_and_named_definitions(tmp_path):
    (tmp_path / "f").write_bytes(b"v")
    ext, legacy, named = plan(
        "web", "secret", {"e": {"external": True, "name": "prod_db"},
                          "old": {"external": {"name": "old_real"}},
                          "n": {"name": "shared_db", "file": "f"}},
        ["e", "old", "n"], str(tmp_path), {}, KEY)
    assert (ext.external, ext.name, ext.origin, ext.content) == (True, "prod_db", "external",
                                                                 None)
    assert ext.labels == {}                            # never labelled: never collected
    assert legacy.name == "old_real"
    assert named.name.startswith("shared_db_") and named.name == objects.name_from(
        "shared_db", objects.content_digest(b"v", KEY))
    bare, = plan("web", "config", {"c": {"external": True}}, ["c"], str(tmp_path), {})
    assert bare.name == "c"


@pytest.mark.parametrize("definitions, environ, expected", [
    ({}, {}, "secret 'db' is used by service web but not defined"),
    ({"db": "a-string"}, {}, "secret 'db': the definition must be a map"),
    ({"db": {"file": "nope.txt"}}, {}, "secret 'db': file nope.txt not found"),
    ({"db": {"file": "adir"}}, {}, "secret 'db': adir is a directory"),
    ({"db": {"file": "empty"}}, {}, "secret 'db': file empty is empty"),
    ({"db": {"file": "big"}}, {}, "secret 'db': file big holds 512000 bytes"),
    ({"db": {"environment": "DB_PW"}}, {}, "secret 'db': environment variable DB_PW is not set"),
    ({"db": {"environment": "DB_PW"}}, {"DB_PW": ""}, "secret 'db': environment DB_PW is empty"),
    ({"db": {"environment": "DB_PW", "file": "x"}}, {}, "needs exactly one source, has file and"),
    ({"db": {"labels": {"a": "b"}}}, {}, "secret 'db' needs exactly one source, has none"),
    ({"db": {"external": True, "file": "x"}}, {}, "secret 'db' is external and has `file:`"),
    ({"db": {"environment": "DB_PW", "labels": {SERVICE_LABEL: "other"}}}, {"DB_PW": "v"},
     f"secret 'db': label {SERVICE_LABEL} is shipway's own"),
])
def test_planning_errors_are_one_line_with_a_fix(tmp_path, definitions, environ, expected):
    (tmp_path / "adir").mkdir()
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "big").write_bytes(b"x" * 512000)
    with pytest.raises(UsageError) as caught:
        plan("web", "secret", definitions, ["db"], str(tmp_path), environ, KEY)
    text = str(caught.value)
    assert expected in text and caught.value.hint and "\n" not in text


def test_a_config_may_be_larger_than_a_secret(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 512000)
    assert plan("web", "config", {"c": {"file": "big"}}, ["c"], str(tmp_path), {})


def test_absolute_paths_and_list_labels(tmp_path):
    path = tmp_path / "abs.txt"
    path.write_bytes(b"v")
    wanted, = plan("web", "config", {"c": {"file": str(path), "labels": ["a=1", "b=x=y"]}},
                   ["c"], "/nonexistent", {})
    assert wanted.labels["a"] == "1" and wanted.labels["b"] == "x=y"


def test_secret_names_need_the_key(tmp_path):
    with pytest.raises(ValueError):
        plan("web", "secret", {"db": {"environment": "X"}}, ["db"], str(tmp_path), {"X": "v"})


def test_the_value_is_in_no_repr_str_summary_or_record_dump(tmp_path):
    wanted, = plan("web", "secret", {"db": {"environment": "DB_PW"}}, ["db"], str(tmp_path),
                   {"DB_PW": VALUE}, KEY)
    dumped = dataclasses.asdict(wanted)
    shown = [repr(wanted), str(wanted), json.dumps(wanted.summary()), repr(dumped),
             str(wanted.content), repr([wanted])]
    for text in shown:
        assert VALUE not in text and VALUE.encode().hex() not in text
    with pytest.raises(TypeError):        # a JSON dump of the whole object fails, never leaks
        json.dumps(dumped)


def test_errors_do_not_hold_the_value(tmp_path):
    (tmp_path / "big").write_text(VALUE * 40000)
    with pytest.raises(UsageError) as caught:
        plan("web", "secret", {"db": {"file": "big"}}, ["db"], str(tmp_path), {}, KEY)
    assert VALUE not in str(caught.value) and VALUE not in repr(caught.value.context)


# --- garbage collection, from recorded Engine JSON -----------------------------------------

SERVICE = fixture("service.json")
NAME = SERVICE["Spec"]["Name"]
SECRETS = fixture("secrets.json")
CONFIGS = fixture("configs.json")


def names(found):
    return sorted(obj["Spec"]["Name"] for obj in found)


def by_id(listed, object_id):
    return next(obj["Spec"]["Name"] for obj in listed if obj["ID"] == object_id)


def test_references_are_read_from_the_container_spec():
    spec = SERVICE["Spec"]["TaskTemplate"]["ContainerSpec"]
    secret = spec["Secrets"][0]
    assert references("secret", [SERVICE["Spec"]]) == {secret["SecretID"], secret["SecretName"]}
    assert references("config", [SERVICE["Spec"], None, {}]) == {
        spec["Configs"][0]["ConfigID"], spec["Configs"][0]["ConfigName"]}


def test_what_neither_the_spec_nor_the_previous_spec_uses_goes():
    running, previous = SERVICE["Spec"], SERVICE["PreviousSpec"]
    old_secret = previous["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"]
    old_config = previous["TaskTemplate"]["ContainerSpec"]["Configs"][0]["ConfigID"]
    assert names(unreferenced("secret", SECRETS, NAME, [running])) == [by_id(SECRETS,
                                                                               old_secret)]
    assert names(unreferenced("config", CONFIGS, NAME, [running])) == [by_id(CONFIGS,
                                                                               old_config)]
    assert unreferenced("secret", SECRETS, NAME, [running, previous]) == []
    assert unreferenced("config", CONFIGS, NAME, [previous, running]) == []


def test_with_no_spec_left_every_labelled_object_goes_but_never_a_handmade_one():
    for kind, listed in (("secret", SECRETS), ("config", CONFIGS)):
        gone = names(unreferenced(kind, listed, NAME, []))
        assert len(gone) == 2 and all(n.startswith(NAME + "_") for n in gone)
        handmade = [o["Spec"]["Name"] for o in listed if not o["Spec"]["Labels"]]
        assert handmade and not set(handmade) & set(gone)


def test_a_reference_by_name_alone_keeps_an_object():
    previous = SERVICE["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]
    spec = {"TaskTemplate": {"ContainerSpec": {"Secrets": [
        {"SecretName": previous["SecretName"]}]}}}
    assert len(unreferenced("secret", SECRETS, NAME, [SERVICE["Spec"], spec])) == 0


def test_objects_of_another_service_or_kind_are_not_taken():
    assert unreferenced("secret", SECRETS, "other", []) == []
    assert unreferenced("config", SECRETS, NAME, []) == []    # labelled kind=secret
    relabelled = [dict(o, Spec=dict(o["Spec"], Labels={SERVICE_LABEL: NAME}))
                  for o in SECRETS]                           # no kind label: not shipway's
    assert unreferenced("secret", relabelled, NAME, []) == []


def test_recorded_secrets_hold_no_data():
    for listed in (SECRETS, fixture("secret-inspect.json")):
        assert all("Data" not in obj["Spec"] for obj in listed)


# --- ensure: nothing is created when an external object is missing -------------------------

class RecordingApi:
    """Just enough of docker-py's APIClient to see which calls ensure() makes."""

    def __init__(self, existing=()):
        self.existing = list(existing)
        self.created = []

    def secrets(self, filters=None):
        return [o for o in self.existing if o["Spec"]["Name"].startswith(filters["name"])]

    def create_secret(self, name, data, labels=None):
        self.created.append((name, labels))
        return {"ID": f"id-{name}"}


def test_a_missing_external_stops_before_anything_is_created(tmp_path):
    wanted = plan("web", "secret", {"db": {"environment": "DB_PW"}, "ext": {"external": True}},
                  ["db", "ext"], str(tmp_path), {"DB_PW": VALUE}, KEY)
    api = RecordingApi()
    with pytest.raises(UsageError, match="external secret 'ext'.*does not exist"):
        objects.ensure(api, wanted, lambda line: None)
    assert api.created == []


def test_ensure_creates_labelled_objects_and_reports_without_the_value(tmp_path):
    wanted = plan("web", "secret", {"db": {"environment": "DB_PW"}, "ext": {"external": True}},
                  ["db", "ext"], str(tmp_path), {"DB_PW": VALUE}, KEY)
    api = RecordingApi([{"ID": "e1", "Spec": {"Name": "ext", "Labels": {}}},
                        {"ID": "e2", "Spec": {"Name": "ext2", "Labels": {}}}])
    lines = []
    refs = objects.ensure(api, wanted, lines.append)
    assert refs == {"ext": {"Name": "ext", "ID": "e1"},
                    "db": {"Name": wanted[0].name, "ID": f"id-{wanted[0].name}"}}
    assert api.created == [(wanted[0].name, wanted[0].labels)]
    assert len(lines) == 1 and VALUE not in lines[0]


def test_a_dry_run_does_not_create_the_naming_key():
    class NoConfigs:
        def configs(self, filters=None):
            return []

    assert objects.naming_key(NoConfigs(), create=False) is None
