"""The rollback picker's lines and its default, from a release history recorded on the lab
(tests/fixtures/releases/lab-history.json: three deploys, a rollback with a reason, a
redeploy of the first image) and from made-up histories for the edges."""
import json
import os

import pytest

from pipeline.swarm import picker
from pipeline.swarm import releases as history

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "fixtures", "releases", "lab-history.json")


@pytest.fixture(scope="module")
def lab():
    with open(FIXTURE, encoding="utf-8") as handle:
        recorded = json.load(handle)
    releases = sorted((history.from_config(c) for c in recorded["configs"]),
                      key=lambda r: r.seq, reverse=True)
    running = history.running_release(releases, recorded["service"]["Spec"])
    return releases, running, picker.parse_time(recorded["recorded"])


def test_the_records_say_who_deployed_and_who_rolled_back_why(lab):
    releases, running, _ = lab
    assert running.seq == 4 and [r.deployed_by for r in releases] == \
        ["carol", "alice", "alice", "alice"]
    assert releases[1].rolled_back == {"at": "2026-12-06T07:32:46Z", "by": "bob",
                                       "reason": "500s on /login after #3", "to": "#2"}
    assert [picker.healthy(r) for r in releases] == [True, False, True, True]


def test_lines_and_default_from_the_lab_history(lab):
    releases, running, now = lab
    listed = picker.entries(releases, running, now)
    assert [e["choice"] for e in listed] == [
        "#4  build 44  abc4234  24 s ago  by carol  running 24 s",
        "#3  build 43  abc3234  59 s ago  by alice  ran 20 s  rolled back by bob",
        "#2  build 42  abc2234  74 s ago  by alice  ran 30 s",
        "#1  build 41  abc1234  77 s ago  by alice  ran 3 s"]
    # #3 was rolled back; #1 is the image #4 runs again, with the same spec: nothing to go to.
    assert [e["seq"] for e in listed if e["default"]] == [2]
    assert [e["running"] for e in listed] == [True, False, False, False]
    # #2 ran twice: until #3 was deployed (15 s), and from the rollback until #4 (15 s).
    assert [e["ran"] for e in listed] == [24, 20, 30, 3]
    assert json.loads(json.dumps(listed)) == listed


def test_hours_later_the_line_reads_in_hours_and_days(lab):
    releases, running, now = lab
    line = picker.line(releases[2], now + 2 * picker.HOUR, 3 * picker.DAY + 5)
    assert line == "#2  build 42  abc2234  2 h ago  by alice  ran 3 d"


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (89, "89 s"), (90, "1 min"), (89 * 60 + 59, "89 min"), (90 * 60, "1 h"),
    (47 * 3600 + 3599, "47 h"), (2 * 86400, "2 d"), (-5, "0 s")])
def test_span(seconds, text):
    assert picker.span(seconds) == text


def test_ago():
    assert picker.ago(100.0, 105.0) == "just now"
    assert picker.ago(0.0, 7200.0) == "2 h ago"
    assert picker.ago(None, 5.0) == ""


def rel(seq, digest=None, rolled_back=None, created=None, by="", build=None, commit=None):
    digest = digest or "sha256:" + f"{seq:x}" * 64
    return history.Release(seq=seq, id=f"id{seq}", service="s", image=f"r/x@{digest}",
                           digest=digest[:71], build_number=build if build is not None
                           else str(100 + seq), commit=commit if commit is not None
                           else f"{seq:07x}" + "f" * 33, deployed_by=by,
                           created=created or picker.format_time(seq * picker.DAY),
                           rolled_back=rolled_back or {})


def test_default_is_the_newest_older_release_that_ran_healthy():
    back = {"at": picker.format_time(3 * picker.DAY + 60), "by": "bob", "to": "#2"}
    releases = [rel(4), rel(3, rolled_back=back), rel(2), rel(1)]
    assert picker.default(releases, releases[0]).seq == 2
    assert picker.default(releases, releases[2]).seq == 1      # after the rollback to #2
    assert picker.default(releases, releases[3]) is None       # nothing older than #1


def test_no_release_ran_healthy_no_default():
    back = {"at": picker.format_time(3 * picker.DAY), "to": "#1"}
    releases = [rel(2), rel(1, rolled_back=back)]
    assert picker.default(releases, releases[0]) is None
    assert not any(e["default"] for e in picker.entries(releases, releases[0], 9e5))


def test_an_unrecorded_running_spec_defaults_to_the_newest_healthy_other_digest():
    releases = [rel(3), rel(2), rel(1)]
    assert picker.default(releases, None).seq == 3
    assert picker.default(releases, None, current_digest=releases[0].digest).seq == 2


def test_run_times_follow_deploys_and_rollbacks():
    back = {"at": picker.format_time(3 * picker.DAY + 3600), "by": "bob", "to": "#2"}
    releases = [rel(3, rolled_back=back), rel(2), rel(1)]
    now = 4 * picker.DAY
    ran = picker.run_times(releases, releases[1], now)
    assert ran == {1: picker.DAY, 2: picker.DAY + (now - 3 * picker.DAY - 3600), 3: 3600}
    # Running a spec no record has: when the last recorded one stopped is unknown.
    assert 2 not in picker.run_times([rel(2), rel(1)], None, now)


def test_a_line_leaves_out_what_the_record_does_not_have():
    bare = rel(5, build="", commit="", created="not a time")
    assert picker.line(bare, 0.0) == "#5"
    back = rel(6, rolled_back={"at": picker.format_time(0), "to": "#5"})
    assert picker.line(back, 6 * picker.DAY) == "#6  build 106  0000006  just now  rolled back"
