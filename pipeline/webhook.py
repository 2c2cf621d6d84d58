"""One JSON POST to a webhook, retried a bounded number of times within a bounded time.

The standard library's urllib, as prometheus.py's deploy markers: a POST of a small JSON
body needs no session, no connection pool and no new dependency, and requests stays where
docker-py and python-jenkins need it (pipeline/api/, pipeline/jobs/). tenacity retries what
a retry can mend (refused or reset connections, timeouts, 5xx, 408 and 429), never another
4xx: a webhook that says the body or the token is wrong says it again.

The URL holds the webhook's token: no line returned here names it, or repeats an
exception's text that might (why() words each failure itself).
"""
import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request

import tenacity

from pipeline import __version__

ATTEMPTS = 3
TOTAL_SECONDS = 10.0      # every attempt and the waits between them
ATTEMPT_SECONDS = 5.0     # one attempt's connect and read, at most
_TRANSIENT_STATUS = (408, 429)


class Failed(Exception):
    """A POST that did not get a 2xx answer: `why` (one short line, no URL), `transient`."""

    def __init__(self, why, transient):
        super().__init__(why)
        self.why = why
        self.transient = transient


def post(url, body, *, attempts=ATTEMPTS, total=TOTAL_SECONDS, attempt=ATTEMPT_SECONDS,
         backoff=0.5):
    """POST `body` (JSON-ready) to `url`; "" once it is taken, else why not (never raises).
    At most `attempts` tries within `total` seconds, each of `attempt` seconds at most,
    `backoff` seconds before the second (doubling, at most 2 s)."""
    data = json.dumps(body).encode("utf-8")
    deadline = time.monotonic() + total
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, Failed) and exc.transient),
        stop=tenacity.stop_after_attempt(attempts) | tenacity.stop_after_delay(total),
        wait=tenacity.wait_exponential(multiplier=backoff, max=2),
        reraise=True)
    try:
        retrying(lambda: _once(url, data, min(attempt, max(0.1, deadline - time.monotonic()))))
    except Failed as exc:
        return exc.why
    return ""


def _once(url, data, timeout):
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"shipway/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        raise Failed(_status(exc), exc.code >= 500 or exc.code in _TRANSIENT_STATUS) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise Failed(why(exc, timeout), not isinstance(exc, ValueError)) from None


def _status(exc):
    """'HTTP 400: invalid_payload': the code, and the first line of a short answer (Slack
    says what is wrong in it)."""
    try:
        answer = exc.read(200).decode("utf-8", "replace").strip().splitlines()
    except (OSError, http.client.HTTPException):
        answer = []
    first = answer[0][:100] if answer else ""
    return f"HTTP {exc.code}" + (f": {first}" if first and not first.startswith("<") else "")


def why(exc, timeout):
    """A failure in a few words of our own: 'connection refused', 'no answer within 5s',
    'TLS: certificate verify failed', never Python's exception text ([Errno 111] ...)."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {round(timeout, 1):g}s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                           http.client.RemoteDisconnected)):
        return "the connection was closed before an answer"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS: {reason.verify_message or 'certificate verify failed'}"
    if isinstance(reason, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    if isinstance(reason, (ValueError, str)):   # a str reason may quote the URL
        return "not a URL urllib can send to"
    return "no answer (" + type(reason).__name__ + ")"
