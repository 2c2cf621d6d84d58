"""Error mapping: one `error:` line, exit 1 for a failed stage, 2 for bad input."""
import io
import os

import pytest

from pipeline import cli
from pipeline.console import Console, clean
from pipeline.context import Context
from pipeline.errors import (
    BuildError,
    CatalogError,
    DeployError,
    EngineError,
    NothingToRollBack,
    RegistryError,
    ShipwayError,
    UsageError,
)
from tests.support.cli import run_cli


@pytest.mark.parametrize("error, code", [
    (UsageError("x"), 2), (CatalogError("x", path="c.yml"), 2), (EngineError("x"), 1),
    (RegistryError("x"), 1), (DeployError("x"), 1), (NothingToRollBack("x"), 1),
    (BuildError("x", returncode=7), 7), (BuildError("x", returncode=200), 1),
])
def test_exit_codes(error, code):
    assert isinstance(error, ShipwayError)
    assert error.exit_code == code


def run(argv, environ=None):
    return run_cli(argv, environ)


@pytest.mark.parametrize("argv, words", [
    (["deploy"], "--service"),
    (["deploy", "--service", "x", "--replicas", "many"], "whole number"),
    (["deploy", "--service", "x", "--update-order", "sideways"], "invalid choice"),
    (["deploy", "--service", "x", "--publish", "80"], "PUBLISHED:TARGET"),
    (["deploy", "--service", "x", "--update-delay", "soon"], "duration"),
    (["image", "--service", "x", "--image", "Bad Repo"], "not a valid image reference"),
    (["image", "--service", "x", "--build-arg", "novalue"], "KEY=VALUE"),
    (["status", "--service", "Not.Valid"], "bad service name"),
    (["frobnicate"], "invalid choice"),
    (["deploy", "--service", "x", "--replicas", "²"], "whole number"),
    (["deploy", "--service", "x", "--keep-releases", "0"], "1 or more"),
    (["deploy", "--service", "x", "--replicas", "2147483648"], "or less"),
    (["push", "--service", "x", "--attempts", "0"], "1 or more"),
    (["jobs", "list", "--catalog", "c.yml", "--timeout", "nan"], "finite"),
    (["jobs", "list", "--catalog", "c.yml", "--timeout", "0"], "more than 0"),
    (["jobs", "list", "--catalog", "c.yml", "--workers", "-1"], "whole number"),
    (["status", "--service", "x", "stray\nword"], "stray\\nword"),
    (["status", "--service", "x", "--catalog", "a\u2028b\x85c"], "a\\u2028b\\x85c"),
    (["build", "--service", "x"], "no build"),
])
def test_usage_errors_are_one_line_exit_2(argv, words):
    code, out, err = run(argv)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err
    assert out == ""


@pytest.mark.parametrize("stage, what, content", [
    ("deploy", "push", "[1, 2]"), ("deploy", "push", '{"reference": 7}'),
    ("deploy", "push", '{"reference": '), ("push", "image", '{"repository": "r/x", "tags": []}'),
    ("push", "image", '{"repository": "r/x", "tags": "v1"}'), ("push", "image", None),
])
def test_damaged_state_files_are_one_line_exit_2(tmp_path, stage, what, content):
    path = tmp_path / f"x.{what}.json"
    if content is None:
        path.mkdir()     # a directory where the file should be
    else:
        path.write_text(content)
    image = ["--image", "r/x"] if stage == "push" else []   # deploy reads the push record
    code, out, err = run([stage, "--service", "x", *image, "--state-dir", str(tmp_path)])
    assert code == 2, err
    assert err.count("\n") == 1 and f"cannot use the state file {path}" in err
    assert out == ""


def test_a_state_dir_that_is_a_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = run(["deploy", "--service", "x", "--state-dir", str(tmp_path / "file")])
    assert code == 2 and err.count("\n") == 1 and "Not a directory" in err


def test_no_stage_prints_help_and_exits_2(capsys):
    assert cli.main([], environ={}) == 2
    assert "STAGE" in capsys.readouterr().err


def test_engine_unreachable_is_exit_1_one_line():
    code, _, err = run(["status", "--service", "x"], {"DOCKER_HOST": "tcp://127.0.0.1:1"})
    assert code == 1
    assert err.strip() == ("error: cannot reach the Docker Engine at tcp://127.0.0.1:1: "
                           "Connection refused (start dockerd or set DOCKER_HOST)")


def test_engine_unreachable_with_tls_names_the_certificates(tmp_path):
    code, _, err = run(["status", "--service", "x"],
                       {"DOCKER_HOST": "tcp://127.0.0.1:1", "DOCKER_TLS_VERIFY": "1",
                        "DOCKER_CERT_PATH": str(tmp_path)})
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.strip().endswith("(check DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem for this "
                                "engine) and DOCKER_HOST)"), err


def test_every_stage_in_the_table_has_a_module_with_the_interface():
    import importlib
    import importlib.util

    for name, (module, help_text) in cli.STAGES.items():
        if importlib.util.find_spec(module) is None:
            continue  # a stage still being written is hidden from --help
        loaded = importlib.import_module(module)
        assert callable(loaded.add_arguments) and callable(loaded.run), name
        assert help_text


def test_console_strips_control_characters_off_a_tty():
    err = io.StringIO()
    Console(io.StringIO(), err).event("\x1b[31mred\x1b[0m\tand\x07 bell")
    assert err.getvalue() == "[shipway] red\tand bell\n"
    assert clean("a\rb") == "ab"


def test_context_reads_jenkins_environment_once_and_strips_url_credentials():
    ctx = Context.from_env({"GIT_COMMIT": "abcdef1234", "BUILD_NUMBER": "5",
                            "GIT_URL": "https://bot:tok3n@git.example.com/x.git",
                            "GIT_BRANCH": "origin/main"}, None)
    assert ctx.build.short_commit == "abcdef1"
    assert ctx.build.source == "https://git.example.com/x.git"
    assert ctx.build.branch == "main"


def test_registry_credentials(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    env = {"SHIPWAY_REGISTRY_USER": "u", "SHIPWAY_REGISTRY_PASSWORD_FILE": str(secret)}
    assert Context.from_env(env).registry_credentials() == ("u", "hunter2")
    assert Context.from_env({}).registry_credentials() is None
    with pytest.raises(UsageError, match="together"):
        Context.from_env({"SHIPWAY_REGISTRY_USER": "u"}).registry_credentials()


def test_build_command_gets_the_environment_without_secrets(tmp_path):
    env = {"PATH": os.environ["PATH"], "KEEP": "yes", "SHIPWAY_REGISTRY_PASSWORD": "pw-1234567",
           "JENKINS_TOKEN": "tok-1234567", "SHIPWAY_REGISTRY_USER": "u",
           "GIT_URL": "https://bot:git-1234567@git.example.com/x.git"}
    code, _, err = run(["build", "--service", "x", "--command", "env", "--workdir",
                        str(tmp_path)], env)
    assert code == 0, err
    assert "| KEEP=yes" in err and "| SHIPWAY_REGISTRY_USER=u" in err
    assert "| GIT_URL=https://git.example.com/x.git" in err
    assert "pw-1234567" not in err and "tok-1234567" not in err and "git-1234567" not in err
