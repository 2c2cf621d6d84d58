"""The error boundary: what the Engine clients raise, translated.

Two clients reach the Engine: pipeline/api/http.py's (the swarm commands) and docker-py with
requests (build, image, push; hosts the stdlib client cannot reach). Only this package imports
`docker.errors` (and requests' errors for the engine's connection). Code outside it catches the
classes defined here, all of them EngineErrors, or calls engine functions that return None for
"not there". The raw classes of a client are looked up only in modules already loaded
(sys.modules): an exception of a module that is not loaded cannot exist, and a deploy that
never imported docker-py must not import it here.
"""
import contextlib
import sys

from pipeline.errors import EngineError


def _loaded(module, *names):
    """The classes `names` of `module` if it is loaded, else ()."""
    found = sys.modules.get(module)
    return tuple(getattr(found, name) for name in names) if found is not None else ()


def _http(*names):
    return _loaded("pipeline.api.http", *names)


class EngineCallError(EngineError):
    """An Engine API call that failed, translated from either client.

    `message`: the gist in one line (what `short` says); `detail`: the engine's own
    explanation, or the SDK error's text when it gave none; `text`: the SDK error's whole text;
    `status_code`: the HTTP status, None when the engine did not answer.
    """

    def __init__(self, exc):
        status_code = getattr(exc, "status_code", None)
        super().__init__(short(exc), status_code=status_code)
        self.detail = str(getattr(exc, "explanation", None) or exc)
        self.text = str(exc)
        self.status_code = status_code


class Refused(EngineCallError):
    """The engine answered with an error status (http.HTTPStatusError, docker-py's APIError)."""


class NotFoundError(Refused):
    """The engine has no such object: 404 (docker-py's NotFound)."""


class Unreachable(EngineCallError):
    """The connection to the engine failed or broke (http.ConnectionFailed, requests'
    ConnectionError)."""


class TimedOut(EngineCallError):
    """The engine did not answer in time (http.TimedOutError; requests' Timeout when no
    ConnectionError)."""


def connection_errors():
    """What the clients raise when the engine does not answer (of the loaded ones)."""
    return (*_http("ConnectionFailed", "TimedOutError"),
            *_loaded("requests.exceptions", "ConnectionError", "Timeout"))


def translate(exc):
    """The class below for a client's error, None for anything else (shipway's own errors
    included). Connection errors first: requests' ConnectTimeout is both."""
    if isinstance(exc, EngineCallError):
        return exc
    if isinstance(exc, _http("HTTPStatusError") + _loaded("docker.errors", "APIError")):
        return (NotFoundError if exc.status_code == 404 else Refused)(exc)
    if isinstance(exc, _http("ConnectionFailed")
                  + _loaded("requests.exceptions", "ConnectionError")):
        return Unreachable(exc)
    if isinstance(exc, _http("TimedOutError") + _loaded("requests.exceptions", "Timeout")):
        return TimedOut(exc)
    return None


@contextlib.contextmanager
def translated():
    """Raise the classes above for the clients' API and connection errors escaping the
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


def _lost():
    """An engine that did not answer: the clients' errors, raw or translated."""
    return (Unreachable, TimedOut, *connection_errors())


def _refused():
    """An engine that answered with an error status: the clients' errors, raw or translated."""
    return (Refused, *_http("HTTPStatusError"), *_loaded("docker.errors", "APIError"))


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
    connection (requests raises its own errors, not docker's) or an unmapped API error,
    raw or already translated."""
    try:
        yield
    except _lost() as exc:
        raise EngineError(f"{doing}: lost the connection to the Docker Engine "
                          f"({short(exc)})", hint="check that dockerd runs, then run the "
                          "same command again: it picks up what the swarm did") from None
    except _refused() as exc:
        raise api_error(exc, doing) from None


def quiet_errors():
    """The errors a best-effort read (forensics, decoration) swallows: any API or connection
    failure, raw or translated. For `except engine.quiet_errors():` outside this package."""
    return (*_refused(), *_lost())
