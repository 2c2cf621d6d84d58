"""Choosing the release a rollback goes to, and naming releases."""
import pytest

from pipeline.errors import UsageError
from pipeline.swarm.releases import NAME_LIMIT, Release, choose, config_name, running_release


def rel(seq, digest=None, build=None, commit=None):
    digest = digest or "sha256:" + (f"{seq}abc" * 22)[:64]
    return Release(seq=seq, id=f"id{seq}", service="s", image=f"r/x:{seq}@{digest}",
                   digest=digest, build_number=build or str(100 + seq),
                   commit=commit or f"{seq:07x}" + "f" * 33)


HISTORY = [rel(4), rel(3), rel(2), rel(1)]  # newest first


def test_previous_of_running_and_twice_goes_two_back():
    assert choose(HISTORY, HISTORY[0]).seq == 3
    assert choose(HISTORY, HISTORY[1]).seq == 2      # after the first press, #3 runs
    assert choose(HISTORY, HISTORY[3]) is None       # nothing older than #1


def test_a_release_a_rollback_left_is_passed_over_unless_asked_for():
    """#3 was deployed, rolled back from (it did not run healthy), then #4 came: the rollback
    from #4 goes to #2, as the rollback picker offers; `--to #3` still goes there."""
    history = [rel(4), rel(3), rel(2), rel(1)]
    history[1].rolled_back = {"by": "bob", "reason": "500s on /login", "to": "#2"}
    assert choose(history, history[0]).seq == 2
    assert choose(history, None, current_digest=history[0].digest).seq == 2
    assert choose(history, history[0], to="#3").seq == 3
    assert choose(history, history[2]).seq == 1


def test_unrecorded_running_spec_goes_to_the_newest_other_digest():
    assert choose(HISTORY, None).seq == 4
    assert choose(HISTORY, None, current_digest=HISTORY[0].digest).seq == 3


def test_same_digest_redeploys_are_passed_over():
    same = "sha256:" + "e" * 64
    history = [rel(3, same), rel(2, same), rel(1)]
    assert choose(history, history[0]).seq == 1


def test_same_digest_with_another_spec_is_a_release_to_go_back_to():
    """A secret rotated (or env changed) on the same image: rollback restores the old spec."""
    same = "sha256:" + "e" * 64
    history = [rel(3, same), rel(2, same), rel(1)]
    for release, secret in zip(history, ("db_b", "db_a", "db_a")):
        release.spec = {"Labels": {"shipway.release": release.id, "team": "x"},
                        "TaskTemplate": {"ContainerSpec": {"Secrets": [{"SecretName": secret}]}}}
    assert choose(history, history[0]).seq == 2
    assert choose(history, history[1]).seq == 1       # #2 and #1 differ by image


@pytest.mark.parametrize("ref, seq", [("#2", 2), ("102", 2), ("0000003", 3),
                                      ("sha256:1abc1abc1abc", 1), ("4abc4abc4abc", 4)])
def test_to_picks_by_seq_build_commit_or_digest(ref, seq):
    assert choose(HISTORY, HISTORY[0], to=ref).seq == seq


def test_to_unknown_is_usage_error_listing_releases():
    with pytest.raises(UsageError, match="no release matches 'nope'.*#4"):
        choose(HISTORY, HISTORY[0], to="nope")


def test_short_refs_do_not_match_by_prefix():
    assert not rel(1).matches("sha2")
    assert not rel(1).matches("000")


def test_running_release_from_the_spec_label():
    spec = {"Labels": {"shipway.release": "id3"}}
    assert running_release(HISTORY, spec).seq == 3
    assert running_release(HISTORY, {"Labels": {}}) is None


def test_config_names_fit_swarm():
    assert config_name("hello", 3) == "shipway-release-hello-3"
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    assert len(config_name(long_a, 10)) <= NAME_LIMIT
    assert config_name(long_a, 1) != config_name(long_b, 1)
