"""--environment on the commands that act on a service, and the per-environment variables."""

import pytest

from pipeline.context import Context, environment_environ, secret_values, without_secrets
from tests.support.cli import catalog_file as write_catalog
from tests.support.cli import run_cli

CATALOG = """
environments:
  staging: {docker_host: "unix:///nonexistent/staging.sock"}
  production: {docker_host: "unix:///nonexistent/prod.sock", approval: {submitter: ops}}
services:
  hello:
    image: 127.0.0.1:5000/shipway/hello
    environments:
      staging: {name: hello-staging}
"""


def run(argv, environ=None):
    return run_cli(argv, environ)


@pytest.fixture
def catalog_file(tmp_path):
    return write_catalog(tmp_path, CATALOG)


@pytest.mark.parametrize("stage", ["deploy", "rollback", "status", "releases", "remove",
                                   "unlock"])
def test_an_unknown_environment_is_bad_input(stage, catalog_file):
    code, out, err = run([stage, "--catalog", catalog_file, "--service", "hello",
                          "--environment", "qa"])
    assert code == 2 and out == ""
    assert "no environment 'qa' in the catalog (environments: staging, production)" in err
    assert len(err.strip().splitlines()) == 1


def test_environment_needs_the_catalog():
    code, _, err = run(["status", "--service", "hello", "--environment", "staging"])
    assert code == 2 and "needs the catalog" in err and "--catalog" in err


def test_shipway_environment_variable_chooses_it(catalog_file):
    code, _, err = run(["status", "--catalog", catalog_file, "--service", "hello"],
                       {"SHIPWAY_ENVIRONMENT": "qa"})
    assert code == 2 and "no environment 'qa'" in err


def test_an_engine_that_does_not_answer_names_the_environment_and_host(catalog_file):
    code, _, err = run(["status", "--catalog", catalog_file, "--service", "hello",
                        "--environment", "production"],
                       {"DOCKER_CERT_PATH_PRODUCTION": "/secret/certs"})
    assert code == 2
    assert "environment 'production'" in err and "unix:///nonexistent/prod.sock" in err
    assert len(err.strip().splitlines()) == 1


def test_an_environment_own_variables_go_over_the_plain_ones():
    environ = {"DOCKER_HOST": "unix:///a.sock", "DOCKER_CERT_PATH": "/certs",
               "DOCKER_CERT_PATH_PROD_EU": "/certs-prod", "SHIPWAY_REGISTRY_USER_STAGING": "s"}
    env = environment_environ(environ, "prod-eu", "tcp://prod:2376")
    assert env["DOCKER_HOST"] == "tcp://prod:2376"
    assert env["DOCKER_CERT_PATH"] == "/certs-prod"
    assert "SHIPWAY_REGISTRY_USER" not in env
    assert environment_environ(environ, "staging")["SHIPWAY_REGISTRY_USER"] == "s"
    assert environment_environ(environ, "staging")["DOCKER_HOST"] == "unix:///a.sock"


def test_an_environment_own_secrets_are_secrets(tmp_path):
    password = tmp_path / "pw"
    password.write_text("file-secret\n")
    environ = {"SHIPWAY_REGISTRY_PASSWORD_PRODUCTION": "env-secret",
               "SHIPWAY_REGISTRY_PASSWORD_FILE_STAGING": str(password),
               "SHIPWAY_REGISTRY_USER_STAGING": "not-secret"}
    assert sorted(secret_values(environ)) == ["env-secret", "file-secret"]
    assert list(without_secrets(environ)) == ["SHIPWAY_REGISTRY_USER_STAGING"]


def test_who_runs_shipway():
    assert Context.from_env({"SHIPWAY_ACTOR": "a", "BUILD_USER_ID": "b", "USER": "c"}).build.user \
        == "a"
    assert Context.from_env({"BUILD_USER_ID": "b", "USER": "c"}).build.user == "b"
    assert Context.from_env({"USER": "c"}).build.user == "c"


def test_who_runs_shipway_without_user_in_the_environment():
    import os
    import pwd
    assert Context.from_env({}).build.user == pwd.getpwuid(os.getuid()).pw_name
