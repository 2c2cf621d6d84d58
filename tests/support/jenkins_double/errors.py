"""HTTP-level failures raised by the model and handlers, mapped to responses.

Each class mirrors how Jenkins itself reports that kind of problem, because
clients branch on the status code (python-jenkins turns 404 into
``NotFoundException`` and 401/403/500 into ``JenkinsException``).
"""

from __future__ import annotations

from typing import Optional


class HttpError(Exception):
    """An error response: status, message and extra headers."""

    def __init__(self, status: int, message: str,
                 headers: Optional[dict[str, str]] = None,
                 detail: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.detail = detail


class Failure(HttpError):
    """``hudson.model.Failure``: a user error shown by ``error.jelly``.

    That view sets status 400 and an ``X-Error`` header carrying the message
    (core/src/main/resources/hudson/model/AbstractModelObject/error.jelly).
    """

    def __init__(self, message: str) -> None:
        super().__init__(400, message, {"X-Error": _latin1(message)})


class NotFound(HttpError):
    """Stapler could not route the URL to an object."""

    def __init__(self, message: str = "Not Found") -> None:
        super().__init__(404, message)


class Conflict(HttpError):
    """409, e.g. ``ParameterizedJobMixIn.doBuild`` on a job that is not buildable."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class ServerError(HttpError):
    """An uncaught Java exception: Jenkins renders its "Oops!" page with 500."""

    def __init__(self, message: str, detail: Optional[str] = None) -> None:
        super().__init__(500, message, detail=detail)


def _latin1(text: str) -> str:
    # Header values go out as ISO-8859-1 (http.server encodes them strictly);
    # Jenkins' messages use curly quotes (‘ ’), so unmappable characters
    # become '?' instead of crashing the response.
    return text.encode("latin-1", "replace").decode("latin-1")
