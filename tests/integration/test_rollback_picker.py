"""The rollback picker from real release history: three releases of a lab image deployed with
`shipway deploy`, `shipway releases --json` gives each one's line and the default (the newest
older release that ran healthy); a rollback with a reason puts the reason and who pressed it
on the record of the release it left, which `shipway releases` then shows, and which the
picker no longer offers first."""
import re

import pytest

from tests.integration.conftest import running_digests, write_catalog

pytestmark = pytest.mark.integration

LINE = re.compile(r"^#(\d+)  build (\d+)  (\w{7})  (just now|\d+ (s|min) ago)  by (\w+)  "
                  r"(ran|running) \d+ (s|min)(  rolled back by (\w+))?$")


def digest(ref):
    return ref.rsplit("@", 1)[1]


def test_the_pickers_lines_and_default_from_real_history_and_a_rollback_with_a_reason(
        shipway, releases, service_name, docker_client, tmp_path):
    catalog = write_catalog(str(tmp_path / "c.yml"), service_name, releases["repo"], ".")
    args = ("--catalog", catalog, "--service", service_name)
    for name, build in (("v1", "1"), ("v2", "2"), ("v3", "3")):
        shipway("deploy", *args, "--image", releases[name], check=0,
                env={"BUILD_NUMBER": build, "GIT_COMMIT": f"{build:0>7}" + "c" * 33,
                     "SHIPWAY_ACTOR": "alice"})

    listed = shipway.json("releases", *args)
    lines = [LINE.match(r["choice"]) for r in listed]
    assert all(lines), [r["choice"] for r in listed]
    assert [(m.group(1), m.group(2), m.group(3), m.group(6), m.group(7)) for m in lines] == [
        ("3", "3", "0000003", "alice", "running"), ("2", "2", "0000002", "alice", "ran"),
        ("1", "1", "0000001", "alice", "ran")]
    assert [r["seq"] for r in listed if r["default"]] == [2]
    assert [r["running"] for r in listed] == [True, False, False]
    assert all(r["healthy"] and r["rolled_back"] is None for r in listed)

    back = shipway.json("rollback", *args, "--reason", "500s on /login after v3",
                        env={"SHIPWAY_APPROVED_BY": "bob"})
    assert back["release"]["seq"] == 2 and back["note"] == {"by": "bob",
                                                            "reason": "500s on /login after v3"}
    assert running_digests(docker_client, service_name) == [digest(releases["v2"])] * 2

    listed = shipway.json("releases", *args)
    left = listed[0]
    assert left["seq"] == 3 and not left["healthy"] and not left["running"]
    assert left["rolled_back"]["by"] == "bob" and left["rolled_back"]["to"] == "#2"
    assert left["rolled_back"]["reason"] == "500s on /login after v3"
    assert left["choice"].endswith("  rolled back by bob")
    assert [r["seq"] for r in listed if r["running"]] == [2]
    assert [r["seq"] for r in listed if r["default"]] == [1]
    text = shipway("releases", *args, check=0).stdout
    assert re.search(r"rolled back (just now|\d+ s ago) by bob to #2: 500s on /login after v3",
                     text), text

    # Pressing it again still goes one further back; who is the user when no input asked.
    again = shipway.json("rollback", *args, env={"SHIPWAY_ACTOR": "carol"})
    assert again["release"]["seq"] == 1 and again["note"] == {"by": "carol", "reason": ""}
    listed = shipway.json("releases", *args)
    assert listed[1]["rolled_back"]["by"] == "carol" and listed[1]["rolled_back"]["to"] == "#1"
    assert re.search(r"by carol to #1$", shipway("releases", *args, check=0).stdout, re.M)
    assert not any(r["default"] for r in listed)     # nothing older than #1
