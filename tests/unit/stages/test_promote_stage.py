"""`shipway promote`'s bad input (exit 2, one line, before any engine is asked), who the
release record says approved it, and its result line."""
import json
from types import SimpleNamespace

import pytest

from pipeline.context import BuildInfo
from pipeline.stages import promote
from pipeline.swarm.promote_plan import Promotion
from pipeline.swarm.releases import Release
from tests.support.cli import catalog_file as write_catalog
from tests.support.cli import run_cli

CATALOG = """
environments:
  staging: {docker_host: "unix:///nonexistent/staging.sock", registry: "127.0.0.1:5000"}
  production: {docker_host: "unix:///nonexistent/prod.sock", registry: "10.210.0.1:5001"}
services:
  hello:
    image: 127.0.0.1:5000/shipway/hello
    environments:
      staging: {name: hello-staging}
"""
DIGEST = "sha256:" + "ab" * 32


def run(argv, environ=None):
    return run_cli(["promote", *argv], environ)


@pytest.fixture
def catalog_file(tmp_path):
    return write_catalog(tmp_path, CATALOG)


def bad(argv, environ=None):
    code, out, err = run(argv, environ)
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_from_equal_to_to(catalog_file):
    err = bad(["--catalog", catalog_file, "--service", "hello", "--from", "staging",
               "--to", "staging"])
    assert "--from and --to are both 'staging'" in err


@pytest.mark.parametrize("side", ["--from", "--to"])
def test_an_unknown_environment(catalog_file, side):
    other = "--to" if side == "--from" else "--from"
    err = bad(["--catalog", catalog_file, "--service", "hello", side, "qa", other, "staging"])
    assert "no environment 'qa' in the catalog (environments: staging, production)" in err
    assert "pass --from and --to with two of those" in err


def test_a_catalog_without_environments(tmp_path):
    path = tmp_path / "plain.yml"
    path.write_text("services:\n  hello: {image: 127.0.0.1:5000/shipway/hello}\n")
    err = bad(["--catalog", str(path), "--service", "hello", "--from", "staging",
               "--to", "production"])
    assert "has no environments to promote between" in err


def test_an_unknown_service(catalog_file):
    err = bad(["--catalog", catalog_file, "--service", "nope", "--from", "staging",
               "--to", "production"])
    assert "no service 'nope'" in err


def test_flags_are_required(catalog_file):
    assert "--to" in bad(["--catalog", catalog_file, "--service", "hello", "--from", "a"])


def test_an_engine_that_does_not_answer_names_the_environment(catalog_file):
    err = bad(["--catalog", catalog_file, "--service", "hello", "--from", "staging",
               "--to", "production"], {"SHIPWAY_REGISTRY_PASSWORD_STAGING": "hunter22"})
    assert "environment 'staging': cannot reach the Docker Engine at " \
           "unix:///nonexistent/staging.sock" in err
    assert "hunter22" not in err


RECORD = {"service": "hello-staging", "environment": "staging", "ok": True,
          "digest": DIGEST, "release": {"seq": 7, "id": "r7"}}


@pytest.mark.parametrize("content, problem", [
    (None, "cannot use it: no such file"),
    ("", "cannot use it: not JSON (JSONDecodeError)"),
    ("{\"service\": ", "not JSON (JSONDecodeError)"),
    (b"\xff\xfe{}", "not JSON (UnicodeDecodeError)"),
    ("[1, 2]", "cannot use it: not a JSON object"),
    ("{}", "not the record of a deploy or promote"),
    (json.dumps({**RECORD, "service": "hello-dev"}), "the record of hello-dev in staging, "
     "not of hello-staging in staging"),
    (json.dumps({**RECORD, "environment": "production"}), "in production, not of "),
])
def test_an_expect_record_that_is_not_one_is_bad_input_before_any_engine(catalog_file,
                                                                         tmp_path, content,
                                                                         problem):
    path = tmp_path / "shipway-deploy-staging.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    err = bad(["--catalog", catalog_file, "--service", "hello", "--from", "staging",
               "--to", "production", "--expect-record", str(path)])
    assert err.startswith(f"error: --expect-record {path}: ") and problem in err, err
    assert "pass the file this build's deploy or promote to staging wrote with --json" in err
    assert "Docker Engine" not in err


def test_a_directory_as_expect_record_is_bad_input(catalog_file, tmp_path):
    err = bad(["--catalog", catalog_file, "--service", "hello", "--from", "staging",
               "--to", "production", "--expect-record", str(tmp_path)])
    assert "cannot use it: Is a directory" in err


def test_a_good_expect_record_goes_on_to_ask_the_engines(catalog_file, tmp_path):
    path = tmp_path / "record.json"
    path.write_text(json.dumps(RECORD))
    err = bad(["--catalog", catalog_file, "--service", "hello", "--from", "staging",
               "--to", "production", "--expect-record", str(path)])
    assert "cannot reach the Docker Engine at unix:///nonexistent/staging.sock" in err


def promotion():
    release = Release(seq=7, id="r7", service="hello-staging",
                      image=f"127.0.0.1:5000/shipway/hello:v7@{DIGEST}", digest=DIGEST)
    return Promotion("hello", "staging", "production", "hello-staging", "hello", release,
                     DIGEST, "10.210.0.1:5001/shipway/hello", "v7", None)


@pytest.mark.parametrize("flag, environ, approver", [
    ("carol", {"SHIPWAY_APPROVED_BY": "bob"}, "carol"),     # --approved-by first
    (None, {"SHIPWAY_APPROVED_BY": "bob"}, "bob"),          # Jenkins' submitterParameter
    (None, {}, "alice"),                                    # else who runs shipway
])
def test_who_approved_it(flag, environ, approver):
    ctx = SimpleNamespace(environ=environ, build=BuildInfo(user="alice"))
    labels = promote.provenance(ctx, SimpleNamespace(approved_by=flag), promotion())
    assert labels == {"deployed-by": "alice", "approved-by": approver,
                      "promoted-from.environment": "staging", "promoted-from.release": "7",
                      "promoted-from.digest": DIGEST}


def test_the_result_line():
    outcome = SimpleNamespace(running=4, desired=4)
    result = SimpleNamespace(action="updated", release=SimpleNamespace(seq=3), outcome=outcome)
    assert promote.result_line(promotion(), result) == (
        "hello: promoted release #7 (sha256:abababababab...) from staging to production as "
        "release #3 (4/4 running)")
    result.action = "unchanged"
    assert promote.result_line(promotion(), result) == (
        "hello: production already runs release #7 (sha256:abababababab...) of staging, as "
        "release #3 (4/4 running)")
