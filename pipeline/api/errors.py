"""The error boundary: what docker-py and requests raise for the Docker Engine, translated.

Only this package imports `docker.errors` (and requests' errors for the engine's connection).
Code outside it catches the classes defined here, all of them EngineErrors, or calls engine
functions that return None for "not there". docker and requests are imported only when a
call is made, so that `shipway --help` imports neither.
"""
import contextlib

from pipeline.errors import EngineError


class EngineCallError(EngineError):
    """An Engine API call that failed, translated from docker-py or requests.

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
    """The engine answered with an error status (docker-py's APIError)."""


class NotFoundError(Refused):
    """The engine has no such object: 404 (docker-py's NotFound)."""


class Unreachable(EngineCallError):
    """The connection to the engine failed or broke (requests' ConnectionError)."""


class TimedOut(EngineCallError):
    """The engine did not answer in time (requests' Timeout, when no ConnectionError)."""


def connection_errors():
    """What requests raises when the engine does not answer (imported only when needed)."""
    import requests

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout)


@contextlib.contextmanager
def translated():
    """Raise the classes above for docker-py's API errors and requests' connection errors
    escaping the block; anything else (shipway's own errors included) passes unchanged."""
    import requests
    from docker.errors import APIError, NotFound

    try:
        yield
    except NotFound as exc:
        raise NotFoundError(exc) from None
    except APIError as exc:
        raise Refused(exc) from None
    except requests.exceptions.ConnectionError as exc:
        raise Unreachable(exc) from None
    except requests.exceptions.Timeout as exc:
        raise TimedOut(exc) from None


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
    """An engine that did not answer: requests' errors, raw or translated."""
    return (Unreachable, TimedOut, *connection_errors())


def _refused():
    """An engine that answered with an error status: docker-py's APIError, raw or translated."""
    from docker.errors import APIError

    return (Refused, APIError)


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
