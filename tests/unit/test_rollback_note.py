"""`shipway rollback --reason` and who pressed it: bad input is one line, exit 2, before the
engine is asked anything; what goes on the record is one line with known secrets masked."""
import io
from types import SimpleNamespace

import pytest

from pipeline import cli
from pipeline.console import Console
from pipeline.context import BuildInfo
from pipeline.stages.rollback import REASON_LIMIT, note_of

NOWHERE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def run(argv, environ):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, environ=environ, console=Console(out, err))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv, environ, words", [
    (["--reason", "x" * (REASON_LIMIT + 1)], {}, f"more than {REASON_LIMIT}"),
    (["--reason", "bell\x07"], {}, "the reason holds control characters"),
    ([], {"SHIPWAY_REASON": "esc\x1b[31m"}, "the reason holds control characters"),
    (["--reason", "ok"], {"SHIPWAY_APPROVED_BY": "a\x00b"}, "the user holds control"),
])
def test_bad_reasons_are_refused_before_the_engine_is_asked(argv, environ, words):
    code, out, err = run(["rollback", "--service", "web", *argv], {**NOWHERE, **environ})
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err
    assert "nonexistent" not in err   # refused before any connection


def context(environ, user="", secrets=()):
    return SimpleNamespace(environ=environ, build=BuildInfo(user=user),
                           console=SimpleNamespace(secrets=secrets))


def test_who_is_the_inputs_submitter_else_who_runs_shipway():
    args = SimpleNamespace(reason=None)
    assert note_of(context({"SHIPWAY_APPROVED_BY": "alice"}, "jenkins"), args).by == "alice"
    assert note_of(context({}, "jenkins"), args).by == "jenkins"


def test_the_reason_is_one_line_from_the_flag_else_the_variable_secrets_masked():
    ctx = context({"SHIPWAY_REASON": "from the job"}, secrets=("hunter22",))
    assert note_of(ctx, SimpleNamespace(reason=None)).reason == "from the job"
    note = note_of(ctx, SimpleNamespace(reason="  db   down\n\tpassword hunter22 leaked "))
    assert note.reason == "db down password *** leaked"
    assert note_of(ctx, SimpleNamespace(reason="")).reason == ""
