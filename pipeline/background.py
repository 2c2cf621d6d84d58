"""One call run in a thread while the caller does something else, its result (or its
exception) taken later.

A deploy makes a dozen round trips to the engine before swarm starts the update, most of
them independent: asking the registry for the tag's digest need not wait for the deploy
lock, nor reading the release history for listing networks. Each is I/O (the GIL is free
while a request waits), so running the independent ones side by side shortens the time
until swarm starts (bench/deploy.py measures it). Lighter than concurrent.futures, whose
import alone costs more than the overlap saves.
"""
import threading


class Background:
    """fn(*args) started in a daemon thread at once; `result()` waits for it and returns
    its value or raises its exception, in the caller's thread."""

    def __init__(self, fn, *args):
        self._value = self._error = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True,
                                        name=f"shipway-{getattr(fn, '__name__', 'call')}")
        self._thread.start()

    def _run(self, fn, args):
        try:
            self._value = fn(*args)
        except BaseException as exc:   # re-raised by result(), in the caller's thread
            self._error = exc

    def result(self):
        """fn's value, once it returned; its exception, re-raised here, if it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

