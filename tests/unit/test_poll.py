"""tests/support/poll.py: the one poll-until and its wrappers.

The clock is a fake one (poll.time replaced), so these run in no time and say exactly when
the probe ran.
"""

import pytest

from tests.support import poll
from tests.support.poll import PollTimeout, poll_until


class FakeClock:
    """time.monotonic and time.sleep of a clock that only moves when slept on."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(poll, "time", fake)
    return fake


def answers(*values):
    """A probe giving `values` in turn (an exception instance is raised), and the times it ran."""
    calls = []
    queue = list(values)

    def probe():
        calls.append(len(calls))
        value = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(value, BaseException):
            raise value
        return value
    return probe, calls


def test_returns_the_first_true_value_polling_every_interval(clock):
    probe, calls = answers(None, 0, [], {"id": 7})
    assert poll_until(probe, 10, "the service", 0.5) == {"id": 7}
    assert len(calls) == 4
    assert clock.slept == [0.5, 0.5, 0.5]


def test_until_decides_what_counts_and_a_false_value_can_be_the_answer(clock):
    probe, _ = answers(3, 2, 1, 0)
    assert poll_until(probe, 10, "zero", until=lambda value: value == 0) == 0


def test_gives_up_naming_what_the_timeout_and_the_last_value(clock):
    probe, calls = answers("updating", "paused")
    with pytest.raises(PollTimeout) as caught:
        poll_until(probe, 2, "the update to complete", 0.5, until=lambda s: s == "completed")
    message = str(caught.value)
    assert message == ("gave up after 2s waiting for the update to complete; "
                       "last seen: 'paused'")
    assert len(calls) == 5            # at 0, 0.5, 1, 1.5 and at the deadline
    assert clock.now == 2


def test_the_error_is_both_an_assertion_and_a_timeout():
    """pytest shows an AssertionError as a failed expectation; callers of the old loops
    (multinode, load, bench) caught TimeoutError."""
    assert issubclass(PollTimeout, AssertionError)
    assert issubclass(PollTimeout, TimeoutError)


def test_the_probe_runs_a_last_time_at_the_deadline_however_long_the_interval(clock):
    probe, calls = answers(False, True)
    assert poll_until(probe, 3, "it", interval=60) is True
    assert clock.slept == [3]
    assert len(calls) == 2


def test_retry_on_counts_those_exceptions_as_not_yet_and_shows_the_last(clock):
    probe, _ = answers(RuntimeError("no leader"), ConnectionRefusedError("refused"), "ok")
    assert poll_until(probe, 5, "a leader", retry_on=(RuntimeError, OSError)) == "ok"
    probe, _ = answers(RuntimeError("no leader yet"))
    with pytest.raises(PollTimeout, match=r"last seen: RuntimeError: no leader yet$"):
        poll_until(probe, 1, "a leader", retry_on=(RuntimeError,))


def test_other_exceptions_propagate_at_once(clock):
    probe, calls = answers(KeyError("Spec"))
    with pytest.raises(KeyError):
        poll_until(probe, 5, "the spec", retry_on=(RuntimeError,))
    assert len(calls) == 1 and clock.now == 0


def test_a_nested_wait_giving_up_is_not_a_not_yet(clock):
    """PollTimeout is an OSError (TimeoutError) and an AssertionError: retry_on=(OSError,)
    must still not swallow an inner wait's verdict."""
    def probe():
        return poll_until(lambda: False, 1, "the inner thing")
    with pytest.raises(PollTimeout, match="the inner thing"):
        poll_until(probe, 10, "the outer thing", retry_on=(OSError, AssertionError))
    assert clock.now == 1


def test_what_may_be_a_callable_read_only_when_giving_up(clock):
    state = {"error": "none yet"}

    def probe():
        state["error"] = f"no space at {clock.now:g}s"
        return False
    with pytest.raises(PollTimeout, match=r"waiting for 2 tasks \(no space at 1s\);"):
        poll_until(probe, 1, lambda: f"2 tasks ({state['error']})")
    never = []
    poll_until(lambda: True, 1, lambda: never.append("called"))
    assert never == []


def test_a_long_last_value_is_cut(clock):
    with pytest.raises(PollTimeout) as caught:
        poll_until(lambda: ["x" * 50] * 40, 0, "short", until=lambda value: False)
    assert len(str(caught.value)) < 400 and str(caught.value).endswith("...")


def test_integration_conftest_wait_for_keeps_its_defaults_and_its_answer(clock):
    from tests.integration.conftest import wait_for

    probe, _ = answers(None, "the item")
    assert wait_for(probe) == "the item"
    assert clock.slept == [0.01]
    with pytest.raises(AssertionError, match="waiting for condition"):
        wait_for(lambda: None)
    assert clock.now == pytest.approx(0.01 + 5.0)


def test_multinode_wait_for_retries_runtime_errors_and_times_out(clock):
    from tests.support.multinode import wait_for

    probe, calls = answers(RuntimeError("no manager with a leader"), "m2")
    assert wait_for(probe, 30, "a leader") is None
    assert clock.slept == [0.5]
    with pytest.raises(TimeoutError, match="a leader; last seen: RuntimeError: no manager"):
        wait_for(answers(RuntimeError("no manager with a leader"))[0], 3, "a leader")
