"""The error boundary: what docker-py's APIClient raises, translated once, here.

docker-py raises `docker.errors.APIError` (NotFound for a 404) when the engine answers with an
error status, and lets requests' own errors through when it does not answer: a
ConnectionError (refused, reset, broken; a connect timeout is one too) or a Timeout; a
stream read from its response (logs, events) raises urllib3's. Only this package imports
them. Everything above it catches the classes defined here, all of them EngineErrors, or
calls engine functions that return None for "not there".
"""
import contextlib

import docker.errors
import requests.exceptions
import urllib3.exceptions

from pipeline.errors import EngineError

# The engine's connection failed or broke. requests raises ChunkedEncodingError, not a
# ConnectionError, when the engine goes away in the middle of an answer's body; a stream's
# reader gets urllib3's ProtocolError, or its SSLError on a TLS connection.
_BROKEN = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
           urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError)
_LATE = (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError)


class EngineCallError(EngineError):
    """An Engine API call that failed, translated.

    `message`: the gist in one line (what `short` says), after what could not be done when
    an engine function says so (`doing`, see `refusal`); `detail`: the engine's own
    explanation, or the client error's text when it gave none; `text`: the client error's
    whole text; `status_code`: the HTTP status, None when the engine did not answer.
    """

    def __init__(self, exc, doing=None):
        if isinstance(exc, EngineCallError):   # said again, with what could not be done
            gist, status_code, detail, text = exc.message, exc.status_code, exc.detail, exc.text
        else:
            gist, status_code = short(exc), getattr(exc, "status_code", None)
            detail, text = str(getattr(exc, "explanation", None) or exc), str(exc)
        super().__init__(f"{doing}: {gist}" if doing else gist, status_code=status_code)
        self.doing, self.detail, self.text, self.status_code = doing, detail, text, status_code


class Refused(EngineCallError):
    """The engine answered with an error status (docker-py's APIError)."""


class NotFoundError(Refused):
    """The engine has no such object: 404 (docker-py's NotFound)."""


class Unreachable(EngineCallError):
    """The connection to the engine failed or broke (requests' ConnectionError)."""


class TimedOut(EngineCallError):
    """The engine did not answer in time (requests' Timeout that is no ConnectionError,
    urllib3's ReadTimeoutError in a stream)."""


def translate(exc):
    """The class above for a client's error, None for anything else (shipway's own errors
    included). An APIError is a requests HTTPError, so it is asked first; a connection error
    before a timeout, since requests' ConnectTimeout is both."""
    if isinstance(exc, EngineCallError):
        return exc
    if isinstance(exc, docker.errors.APIError):
        return (NotFoundError if exc.status_code == 404 else Refused)(exc)
    if isinstance(exc, _BROKEN):
        return Unreachable(exc)
    if isinstance(exc, _LATE):
        return TimedOut(exc)
    return None


@contextlib.contextmanager
def translated():
    """Raise the classes above for the client's API and connection errors escaping the
    block; anything else (shipway's own errors included) passes unchanged."""
    try:
        yield
    except Exception as exc:
        found = translate(exc)
        if found is None or found is exc:
            raise
        raise found from None


def call(fn, *args, **kwargs):
    """fn(*args, **kwargs) with its errors translated (see `translated`)."""
    with translated():
        return fn(*args, **kwargs)


def short(exc):
    """The gist of an Engine or connection error, one line."""
    if isinstance(exc, EngineCallError):
        return exc.message  # the gist, taken when it was translated
    reason = exc
    while reason.__context__ is not None or reason.__cause__ is not None:
        reason = reason.__cause__ or reason.__context__
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror  # "Connection refused", not urllib3's three nested reprs
    text = str(exc)
    explanation = getattr(exc, "explanation", None)
    if explanation:
        text = explanation if isinstance(explanation, str) else text
    if not text.strip():
        return exc.__class__.__name__
    # The registry's code and message often say the same ("manifest unknown: manifest
    # unknown"): say it once.
    parts = text.strip().splitlines()[0].split(": ")
    return ": ".join(p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1])


def api_error(exc, doing):
    """An EngineError for a failed Engine call, with the engine's own message."""
    return EngineError(f"{doing}: {short(exc)}")


def refusal(exc, doing):
    """A translated refusal again, its message saying first what could not be done: still a
    Refused (NotFoundError for a 404), its status kept for is_transient and
    is_out_of_sequence, and printed as it is by engine_errors."""
    return type(exc)(exc, doing)


def _lost():
    """An engine that did not answer. Only translated classes: nothing above this package
    calls the client except through pipeline/api/engine.py's functions, which translate."""
    return (Unreachable, TimedOut)


def _refused():
    """An engine that answered with an error status (translated, see _lost)."""
    return (Refused,)


def is_transient(exc):
    """True for a failure that passes when the engine is back: no socket, a refused or timed
    out connection, or a 5xx (a restarted manager answers "the swarm does not have a leader"
    until its Raft has elected one)."""
    if isinstance(exc, _lost()):
        return True
    return (isinstance(exc, _refused()) and exc.status_code is not None
            and exc.status_code >= 500)


def is_out_of_sequence(exc):
    """Swarm refuses an update whose version is stale: retry on the fresh spec. A create that
    lost the race to another create of the same name is the same story: retry as an update."""
    text = exc.text if isinstance(exc, EngineCallError) else str(exc)
    return "update out of sequence" in text or (
        getattr(exc, "status_code", None) == 409 and "already exists" in text)


@contextlib.contextmanager
def engine_errors(doing):
    """Turn what escapes the Engine calls in the block into one EngineError line: a lost
    connection or an unmapped API error (a refusal that says what could not be done, as the
    engine functions raise them, stays as it is)."""
    try:
        yield
    except _lost() as exc:
        raise EngineError(f"{doing}: lost the connection to the Docker Engine "
                          f"({short(exc)})", hint="check that dockerd runs, then run the "
                          "same command again: it picks up what the swarm did") from None
    except _refused() as exc:
        if getattr(exc, "doing", None):
            raise
        raise api_error(exc, doing) from None
