"""One streamed Engine answer followed in a daemon thread while a deploy or rollback waits.

The base of the service's log follower (logs.py) and of its containers' exits (events.py):
both open one stream (a docker.types.CancellableStream, on a connection of its own), read
it until it ends or `close()` is called from the watching thread, and never fail the wait
they serve: an engine that refuses the stream, or a connection that fails or breaks, only
ends the follow.
"""
import threading

import docker.errors

from pipeline.api.errors import translated
from pipeline.errors import EngineError

SINCE_SLACK = 5          # seconds before the watch started that the stream replays from


class Follower:
    """Follows `open()`'s stream in a daemon thread, giving it to `read(stream)`.

    A subclass sets `name` (its thread's) and defines `open()` -> a CancellableStream and
    `read(stream)`; `prepare()` runs first in the thread, `ended()` last, whatever happened."""

    name = "shipway-follow"

    def __init__(self, api, service_id, since):
        self.api, self.service_id = api, service_id
        self.since = int(since) - SINCE_SLACK
        self._stream = None
        self._closed = False
        self._lock = threading.Lock()   # _stream and _closed, set by both threads
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)

    def start(self):
        """Open the stream in the background; returns self."""
        self._thread.start()
        return self

    def close(self):
        """Stop following: the stream's close() shuts its socket down, which wakes the
        reading thread blocked in recv at once; the thread then ends on its own."""
        with self._lock:
            self._closed = True
        self._release()

    def _release(self):
        """Close the stream once, from whichever thread comes first."""
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            _cancel(stream)

    def _run(self):
        # Only the engine's refusals and connection failures (translated: EngineErrors) end
        # the follow quietly: a follower only speeds a wait up or adds evidence, so the
        # wait goes on without it. The read error that close() causes from the other thread
        # ends the CancellableStream's iteration by itself. Anything else is a bug: it
        # surfaces (the thread prints its traceback).
        try:
            with translated():
                self.prepare()
                stream = self.open()
                with self._lock:
                    self._stream, closed = stream, self._closed
                if not closed:
                    self.read(stream)
        except EngineError:
            pass
        finally:
            self._release()   # a stream that ended or broke: its connection too
            self.ended()

    def prepare(self):
        """Runs in the thread before the stream opens."""

    def open(self):
        raise NotImplementedError

    def read(self, stream):
        raise NotImplementedError

    def ended(self):
        """Runs in the thread when the follow ends, however it ends."""


def _cancel(stream):
    try:
        stream.close()
    except OSError:
        pass   # the socket is gone already (the engine closed it): nothing left to stop
    except docker.errors.DockerException:
        pass   # docker-py cannot cancel an ssh:// stream: the daemon thread ends with shipway
