"""One streamed Engine answer followed in a daemon thread while a deploy or rollback waits.

The base of the service's log follower (logs.py) and of its containers' exits (events.py):
both open one stream on a connection of their own (the generic `stream()` of http.Client
and of sdk.SDKEngine), read it until it ends or `close()` is called from the watching
thread, and never fail the wait they serve: any error only ends the follow.
"""
import threading

SINCE_SLACK = 5          # seconds before the watch started that the stream replays from


class Follower:
    """Follows `request()`'s stream in a daemon thread, giving it to `read(stream)`.

    A subclass sets `name` (its thread's) and defines `request()` -> (path format, its
    arguments, query parameters) and `read(stream)`; `prepare()` runs first in the thread,
    `ended()` last, whatever happened."""

    name = "shipway-follow"

    def __init__(self, api, service_id, since):
        self.api, self.service_id = api, service_id
        self.since = int(since) - SINCE_SLACK
        self._stream = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)

    def start(self):
        """Open the stream in the background; returns self."""
        self._thread.start()
        return self

    def close(self):
        """Stop following: shut the connection down; the thread then ends on its own.

        shutdown(), not close(): the reading thread is blocked in recv(), so closing the
        stream from here could wait for it for as long as the engine sends nothing; a
        shutdown wakes the recv at once."""
        self._closed = True
        stream = self._stream
        if stream is not None:
            stream.shutdown()

    def _run(self):
        from pipeline.api import sdk

        # Any failure ends the follow quietly, including the read error that close() causes
        # from the other thread: a follower only speeds a wait up or adds evidence.
        try:
            self.prepare()
            path, args, params = self.request()
            with sdk.adapted(self.api).stream(path, *args, params=params) as stream:
                self._stream = stream
                if self._closed:
                    return
                self.read(stream)
        except Exception:
            return
        finally:
            self.ended()

    def prepare(self):
        """Runs in the thread before the stream opens."""

    def request(self):
        raise NotImplementedError

    def read(self, stream):
        raise NotImplementedError

    def ended(self):
        """Runs in the thread when the follow ends, however it ends."""
