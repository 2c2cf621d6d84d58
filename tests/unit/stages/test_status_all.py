"""`status --environment all`: the rows and the table, from recorded status data, the
threads that ask the environments, and the command's bad input and exit codes.

tests/fixtures/status/all-environments.json is what `status --environment all --json` printed
for tests/integration/test_status_environments.py's catalog on the labs (staging: the one-node
lab, production: the multi-node lab, down: a closed port), with the production release's
`approved_by` and `promoted_from` then set as a promotion records them.
"""
import copy
import json
import os
import threading
import time

import pytest

from pipeline.stages import status_all
from tests.support.cli import catalog_file as write_catalog
from tests.support.cli import run_cli

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "status",
                       "all-environments.json")
COLUMNS = ["ENVIRONMENT", "RELEASE", "IMAGE", "DIGEST", "COMMIT", "BUILD", "DEPLOYED", "BY",
           "REPLICAS", "UPDATE"]


@pytest.fixture
def rows():
    with open(FIXTURE, encoding="utf-8") as handle:
        return json.load(handle)


def test_the_cells_of_an_environment_that_answered(rows):
    staging, production, _ = rows
    assert status_all.cells(staging) == [
        "staging", "#1", "127.0.0.1:5000/test/envs-5ad66887:1", "sha256:b2f3ad9117a9",
        "abc1234", "42", "2026-12-06T07:35:56Z", "tester", "1/1", "none"]
    assert status_all.cells(production)[7] == "tester, approved by ops, from staging #1"
    assert status_all.cells(production)[8] == "2/2"


def test_the_table_is_aligned_and_the_unreachable_row_says_so(rows):
    lines = status_all.table(rows)
    assert lines[0].split() == COLUMNS
    starts = [lines[0].index(name) for name in COLUMNS]
    for line in lines[1:3]:
        # every cell begins where its header does, two spaces after the widest one before it
        assert all(line[start - 2:start] == "  " and line[start] != " "
                   for start in starts[1:])
    assert lines[3] == ("down         unreachable: cannot reach the Docker Engine at "
                        "tcp://127.0.0.1:35601: Connection refused")
    assert all(line == line.rstrip() for line in lines)


def test_a_service_without_a_recorded_release_shows_its_deploy_labels(rows):
    row = copy.deepcopy(rows[0])
    row["release"] = None
    cells = status_all.cells(row)
    assert cells[1] == "-" and cells[4] == "abc1234" and cells[5] == "42"
    assert cells[6] == row["deploy"]["deployed-at"] and cells[7] == "-"
    row["deploy"] = {}
    assert status_all.cells(row)[4:8] == ["-", "-", "-", "-"]


@pytest.mark.parametrize("update, cell", [
    ({"state": "", "settled": False}, "none"),
    ({"state": "paused", "settled": False, "message": "update paused due to failure"},
     "paused"),
    ({"state": "updating", "settled": True}, "updating (done)"),
    ({"state": "rollback_completed", "settled": False}, "rollback_completed"),
])
def test_the_update_cell(update, cell):
    assert status_all.update_cell(update) == cell


def test_by_whom():
    assert status_all.by_whom({}) == "-"
    assert status_all.by_whom({"deployed_by": "alice", "promoted_from": {}}) == "alice"
    assert status_all.by_whom({"deployed_by": "jenkins", "approved_by": "ops",
                               "promoted_from": {"environment": "staging", "release": 7}}) \
        == "jenkins, approved by ops, from staging #7"


def test_rows_of_environments_without_a_status():
    missing = status_all.status_row("production", "hello", None)
    assert missing["answered"] and not missing["ok"]
    assert status_all.failure_text(missing) == "not deployed (no service hello)"
    down = status_all.failed_row("down", "hello", "no answer within 60s")
    assert not down["answered"] and not down["ok"]
    assert status_all.failure_text(down) == "unreachable: no answer within 60s"
    lines = status_all.table([missing, down])
    assert lines[1:] == ["production   not deployed (no service hello)",
                         "down         unreachable: no answer within 60s"]


def test_gather_asks_every_environment_at_once_and_keeps_their_order():
    # Each ask waits until all three are asking: only threads running together get past it.
    barrier = threading.Barrier(3, timeout=10)

    def ask(name):
        def run():
            barrier.wait()
            return {"environment": name}
        return run
    jobs = [(name, "hello", ask(name)) for name in ("staging", "qa", "production")]
    assert [row["environment"] for row in status_all.gather(jobs, timeout=20)] == \
        ["staging", "qa", "production"]


def test_gather_does_not_wait_longer_than_its_timeout():
    release = threading.Event()
    jobs = [("staging", "hello", lambda: {"environment": "staging", "ok": True}),
            ("production", "hello-prod", lambda: release.wait(30))]
    started = time.monotonic()
    try:
        fast, slow = status_all.gather(jobs, timeout=0.2)
    finally:
        release.set()
    assert time.monotonic() - started < 10
    assert fast == {"environment": "staging", "ok": True}
    assert slow["service"] == "hello-prod" and not slow["answered"]
    assert slow["error"] == "no answer within 0.2s"


# --- the command ---------------------------------------------------------------------------

CATALOG = """
environments:
  staging: {docker_host: "unix:///nonexistent/staging.sock"}
  production: {docker_host: "tcp://127.0.0.1:1"}
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


def test_environments_that_do_not_answer_are_rows_and_exit_1(catalog_file):
    code, out, err = run(["status", "--catalog", catalog_file, "--service", "hello",
                          "--environment", "all", "--json"],
                         {"DOCKER_CERT_PATH_PRODUCTION": "/secret/certs"})
    assert code == 1
    staging, production = json.loads(out)
    assert staging["environment"] == "staging" and staging["service"] == "hello-staging"
    assert staging["error"].startswith(
        "cannot reach the Docker Engine at unix:///nonexistent/staging.sock")
    assert production["error"].startswith("cannot reach the Docker Engine at tcp://127.0.0.1:1")
    assert "DOCKER_CERT_PATH" in production["hint"] and "DOCKER_CERT_PATH" not in staging["hint"]
    assert not staging["answered"] and not production["answered"]
    assert err == "[shipway] 2 of 2 environments did not answer: staging, production\n"


def test_shipway_environment_all_works_as_the_flag(catalog_file):
    code, out, _ = run(["status", "--catalog", catalog_file, "--service", "hello"],
                       {"SHIPWAY_ENVIRONMENT": "all"})
    assert code == 1
    assert out.splitlines()[1].startswith("staging      unreachable: cannot reach")
    assert out.splitlines()[2].startswith("production   unreachable: cannot reach")


@pytest.mark.parametrize("stage", ["deploy", "rollback", "releases", "remove", "unlock"])
def test_all_is_only_for_status(stage, catalog_file):
    for argv, environ in (([stage, "--catalog", catalog_file, "--service", "hello",
                            "--environment", "all"], {}),
                          ([stage, "--catalog", catalog_file, "--service", "hello"],
                           {"SHIPWAY_ENVIRONMENT": "all"})):
        code, out, err = run(argv, environ)
        assert code == 2 and out == ""
        assert err.startswith("error: --environment all is only for `shipway status`")
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, environments, message", [
    (["--service", "hello"], CATALOG, "--environment all needs the catalog"),
    (["--service", "nope", "--catalog"], CATALOG, "no service 'nope' in the catalog"),
    (["--service", "hello", "--catalog"], "services: {hello: {image: a/b}}\n",
     "the catalog has no environments"),
])
def test_bad_input_for_all(argv, environments, message, tmp_path):
    path = tmp_path / "shipway.yml"
    path.write_text(environments)
    argv = ["status", "--environment", "all", *argv] + ([str(path)] if argv[-1] == "--catalog"
                                                       else [])
    code, out, err = run(argv)
    assert code == 2 and out == "" and message in err
    assert len(err.strip().splitlines()) == 1
