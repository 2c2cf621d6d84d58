"""The one poll-until of the tests and benchmarks: wait on a condition, never a fixed sleep.

    poll_until(lambda: api.inspect_service(name)["UpdateStatus"]["State"] == "completed",
               120, f"the update of {name} to complete")

Every wait in tests/ and bench/ goes through `poll_until` (tests/unit/test_poll.py fails on a
new hand-written deadline loop), so all of them fail the same way: one PollTimeout naming what
was awaited, for how long, and the last value or exception seen.
"""
import time

_SHOWN = 300   # characters of the last value kept in the message: enough to see what it was


class PollTimeout(AssertionError, TimeoutError):
    """A condition not reached in time. An AssertionError, so pytest reports it as a failed
    expectation; a TimeoutError too, so callers that caught the TimeoutError of the loops
    this replaced (tests/support/multinode.py, load.py, prometheus.py, bench) still do."""


def _shown(text):
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def poll_until(probe, timeout, what, interval=0.25, *, retry_on=(), until=bool):
    """The first value of `probe()` that `until` accepts (by default: the first true one).

    `probe` runs at once, then every `interval` seconds, and a last time at the deadline,
    `timeout` seconds from now. An exception of a type in `retry_on` counts as "not yet";
    any other one propagates at once. When the deadline passes, raises PollTimeout naming
    `what` (a string, or a callable giving one then, to describe the state at that moment),
    the timeout and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            value = probe()
        except PollTimeout:
            raise           # a nested wait gave up: not a "not yet" of this one
        except retry_on as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if until(value):
                return value
            last = repr(value)
        left = deadline - time.monotonic()
        if left <= 0:
            described = what() if callable(what) else what
            raise PollTimeout(f"gave up after {timeout:g}s waiting for {described}; "
                              f"last seen: {_shown(last)}")
        time.sleep(min(interval, left))
