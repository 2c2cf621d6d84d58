"""Failures of Jenkins requests: python-jenkins and requests exceptions -> one line each.

python-jenkins flattens HTTP failures into a few exception types (see
`jenkins.Jenkins.jenkins_request`): 401/403/500 become a `JenkinsException` whose message is
"Error in request. Possibly authentication failed [STATUS]: REASON" plus the body, 404 becomes
`NotFoundException`, any other status escapes as `requests.HTTPError`, timeouts become
`TimeoutException`, and connection errors escape as `requests.ConnectionError`.
`classify` turns each of those into a `Failure`: one line for people, a kind for code, and
whether a retry can help (5xx and connection errors only: a 4xx will not heal by itself).
"""
import html
import re
from dataclasses import dataclass

import jenkins
import requests

from pipeline.errors import JenkinsError

# Failures that say nothing about one item but about the whole connection: once one is
# seen, the remaining work is not attempted (it would fail the same way, N times over).
GLOBAL_KINDS = frozenset({"unreachable", "auth", "crumb"})

# python-jenkins: 'Error in request. Possibly authentication failed [401]: Unauthorized\n<body>'
_STATUS_MESSAGE = re.compile(r"\[(\d{3})\]: ?([^\n]*)(?:\n(.*))?\Z", re.DOTALL)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.DOTALL | re.IGNORECASE)
_NO_FOLDER = re.compile(r"Cannot create job\[(.*)/[^/\]]*\] because folder")
_MISSING_PERMISSION = re.compile(r"\bis missing the [\w/ ]+? permission")


@dataclass(frozen=True)
class Failure:
    """What went wrong with one request: a kind, the HTTP status if any, one line."""

    # unreachable, timeout, auth, forbidden, crumb, not-found, server, client, response, jenkins
    kind: str
    message: str
    status: int = None
    retryable: bool = False


class RequestFailed(JenkinsError):
    """A request failed after retries; `failure` says how."""

    def __init__(self, failure):
        super().__init__(failure.message)
        self.failure = failure


def _excerpt(body, limit=160):
    """A short single-line excerpt of an error page (HTML tags dropped)."""
    text = html.unescape(_TAG.sub(" ", body or ""))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _http_detail(status, reason, body, headers=None):
    """The most useful words Jenkins said about a failed request."""
    if headers and headers.get("X-Error"):
        return headers["X-Error"]  # hudson.model.Failure puts its message there
    match = _MISSING_PERMISSION.search(body or "")
    if match:
        return match.group(0)
    return _excerpt(body) or reason or f"HTTP {status}"


def classify(exc, *, what, url, user, crumb_state=None):
    """Map an exception from python-jenkins/requests to a Failure (None: not ours to map).

    `what` names the operation ("create demo/hello"), `crumb_state` is the python-jenkins
    `Jenkins.crumb` at the time: False when the crumb issuer answered 404.
    """
    if isinstance(exc, jenkins.TimeoutException):
        return Failure("timeout", f"Jenkins at {url} did not answer {what} in time",
                       retryable=True)
    if isinstance(exc, jenkins.NotFoundException):
        return Failure("not-found", f"{what}: not found in Jenkins (404)", status=404)
    if isinstance(exc, jenkins.EmptyResponseException):
        return Failure("response", f"{what}: Jenkins sent an empty response")
    if isinstance(exc, jenkins.BadHTTPException):
        return Failure("response", f"{what}: Jenkins sent a broken HTTP response")
    if isinstance(exc, jenkins.JenkinsException):
        match = _STATUS_MESSAGE.search(str(exc))
        if match is None:
            missing_folder = _NO_FOLDER.match(str(exc))
            if missing_folder:
                # create_job turns the 404 of createItem into these words.
                return Failure("not-found", f"{what}: folder {missing_folder.group(1)} "
                               "does not exist in Jenkins", status=404)
            # python-jenkins' own words, e.g. "job[a/b] already exists", "delete[a/b] failed".
            return Failure("jenkins", f"{what}: {str(exc).splitlines()[0]}")
        status, reason, body = int(match.group(1)), match.group(2), match.group(3) or ""
        return _status_failure(status, reason, body, None, what=what, url=url, user=user,
                               crumb_state=crumb_state)
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        response = exc.response
        return _status_failure(response.status_code, response.reason or "", response.text,
                               response.headers, what=what, url=url, user=user,
                               crumb_state=crumb_state)
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate problem does not go away by asking again.
        return Failure("unreachable", f"cannot reach Jenkins at {url}: TLS failed "
                       f"({_reason(exc)})")
    if isinstance(exc, (requests.exceptions.ConnectionError,
                        requests.exceptions.ChunkedEncodingError)):
        return Failure("unreachable", f"cannot reach Jenkins at {url}: {_reason(exc)}",
                       retryable=True)
    if isinstance(exc, requests.exceptions.Timeout):
        return Failure("timeout", f"Jenkins at {url} did not answer {what} in time",
                       retryable=True)
    if isinstance(exc, requests.exceptions.RequestException):
        return Failure("response", f"{what}: {type(exc).__name__}: {_reason(exc)}")
    return None


def _status_failure(status, reason, body, headers, *, what, url, user, crumb_state):
    if status == 401:
        return Failure("auth", f"Jenkins refused the credentials for user {user} (401): "
                               "check JENKINS_USER/JENKINS_TOKEN", status=401)
    if status == 403 and "No valid crumb" in (body or ""):
        if crumb_state is False:
            why = (f"{url}crumbIssuer/api/json answered 404, so no crumb was sent; enable "
                   "the crumb issuer or let API tokens skip CSRF protection")
        else:
            why = "the crumb or its session cookie was refused (a proxy dropping cookies?)"
        return Failure("crumb", f"Jenkins refused {what}: no valid CSRF crumb (403): {why}",
                       status=403)
    if status == 403:
        return Failure("forbidden", f"Jenkins denied {what} to user {user} (403): "
                       f"{_http_detail(status, reason, body, headers)}", status=403)
    if status == 404:
        return Failure("not-found", f"{what}: not found in Jenkins (404)", status=404)
    detail = _http_detail(status, reason, body, headers)
    if status >= 500:
        return Failure("server", f"Jenkins answered {status} to {what}: {detail}",
                       status=status, retryable=True)
    return Failure("client", f"Jenkins refused {what} ({status}): {detail}", status=status)


def _reason(exc):
    """The root cause of a requests error in a few words ("Connection refused")."""
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(1).strip()
    if "Read timed out" in text:
        return "read timed out"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection was closed without an answer"
    return _excerpt(text, 200) or type(exc).__name__
