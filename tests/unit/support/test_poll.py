"""tests/support/poll.py: the one poll-until, its wrappers, and the rule that keeps it the one.

The clock is a fake one (poll.time replaced), so these run in no time and say exactly when
the probe ran. The last test walks tests/ and bench/ and fails on a new hand-written deadline
loop: a function with a `while` that calls time.sleep and reads a clock or a deadline.
"""
import ast
import os
from pathlib import Path

import pytest

from tests.support import poll
from tests.support.poll import PollTimeout, poll_until

ROOT = str(Path(__file__).resolve().parents[3])


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


# --- one poll-until: no hand-written deadline loop elsewhere ---------------------------------

THE_ONE = ("tests/support/poll.py", "poll_until")
CLOCKS = {"monotonic", "time", "perf_counter"}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _own_nodes(scope):
    """The nodes of `scope` itself, not of the functions or classes defined inside it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _called(node, names):
    func = node.func if isinstance(node, ast.Call) else None
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in names


def deadline_loops(source):
    """[(line, function)] of every function whose own `while` loop calls sleep() and that
    reads a clock (time.monotonic/time/perf_counter) or a name or attribute called *deadline*:
    a poll-until written by hand."""
    found = []
    for scope in ast.walk(ast.parse(source)):
        if not isinstance(scope, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        own = list(_own_nodes(scope))
        timed = any(_called(n, CLOCKS) or "deadline" in (getattr(n, "id", None)
                                                          or getattr(n, "attr", "") or "")
                    for n in own)
        for loop in (n for n in own if isinstance(n, ast.While)):
            if timed and any(_called(n, {"sleep"}) for n in ast.walk(loop)):
                found.append((loop.lineno, getattr(scope, "name", "<module>")))
    return found


def test_the_rule_finds_a_deadline_loop_and_leaves_other_loops():
    assert deadline_loops(
        "import time\n"
        "def wait(ready, timeout):\n"
        "    deadline = time.monotonic() + timeout\n"
        "    while not ready():\n"
        "        if time.monotonic() > deadline:\n"
        "            raise TimeoutError\n"
        "        time.sleep(0.1)\n") == [(4, "wait")]
    assert deadline_loops(
        "from time import sleep, monotonic\n"
        "def ticks(limit):\n"
        "    end = monotonic() + limit\n"
        "    while True:\n"
        "        yield\n"
        "        sleep(0.5)\n") == [(4, "ticks")]
    assert deadline_loops(   # reading a socket; an Event's wait; a sleep outside a loop
        "import time\n"
        "def pipe(source):\n"
        "    while True:\n"
        "        if not source.recv(1):\n"
        "            break\n"
        "def sample(stopped, limit):\n"
        "    deadline = time.monotonic() + limit\n"
        "    while not stopped.is_set() and time.monotonic() < deadline:\n"
        "        stopped.wait(0.005)\n"
        "def pause():\n"
        "    time.sleep(time.monotonic() % 1)\n") == []


def python_files():
    for top in ("tests", "bench"):
        for folder, dirs, names in os.walk(os.path.join(ROOT, top)):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
            for name in sorted(names):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def test_every_wait_in_tests_and_bench_is_poll_until():
    """The guide: one poll-until in tests/support. A new wait calls poll_until (or a thin
    wrapper of it) instead of looping on a deadline itself. Code inside strings (the programs
    some tests run in a child process) is not parsed, so not checked."""
    offences = []
    for relative, path in python_files():
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        offences += [f"{relative}:{line} {name}()" for line, name in deadline_loops(source)
                     if (relative, name) != THE_ONE]
    assert not offences, ("hand-written deadline loops; call tests.support.poll.poll_until "
                          f"instead: {offences}")
    assert any(relative == THE_ONE[0] for relative, _ in python_files())
