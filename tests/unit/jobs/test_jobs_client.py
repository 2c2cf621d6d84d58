"""The Jenkins client and failures: error mapping, credentials, URLs, retries, crumbs.

The exceptions are produced by python-jenkins itself (a crafted HTTP response fed to its
`jenkins_open`), so the mapping is tested against the messages it really builds.
"""
import socket
from http import HTTPStatus

import jenkins
import pytest
import requests

from pipeline.errors import UsageError
from pipeline.jobs import client as clientmod
from pipeline.jobs.client import Credentials
from pipeline.jobs.failures import Failure, RequestFailed, classify

URL = "http://jenkins.example:8080/"
TOKEN = "11aa22bb33cc44dd55ee66ff77889900"


def raised_by_python_jenkins(status, body="", headers=None, crumb=False):
    """The exception python-jenkins raises when Jenkins answers `status` with `body`."""
    server = jenkins.Jenkins(URL, "alice", TOKEN)
    server.crumb = crumb  # False: as if the crumb issuer answered 404, no crumb request

    def send(prepared, **_settings):
        response = requests.Response()
        response.status_code = status
        response.reason = HTTPStatus(status).phrase
        response._content = body.encode("utf-8")
        response.headers.update(headers or {})
        response.url = prepared.url
        response.request = prepared
        return response

    server._session.send = send
    with pytest.raises(Exception) as info:
        server.jenkins_open(requests.Request("POST", URL + "job/demo/config.xml"))
    return info.value


def mapped(status, body="", headers=None, crumb=False, what="reconfigure demo/hello"):
    exc = raised_by_python_jenkins(status, body, headers, crumb)
    return classify(exc, what=what, url=URL, user="alice", crumb_state=crumb)


# (status, body, headers, crumb state, kind, retryable, words in the message)
HTTP_CASES = [
    (401, "Invalid password/token for user: alice", None, False, "auth", False,
     "Jenkins refused the credentials for user alice (401): check JENKINS_USER/JENKINS_TOKEN"),
    (403, "<html><body>Access Denied: alice is missing the Job/Configure permission</body>"
          "</html>", None, False, "forbidden", False,
     "Jenkins denied reconfigure demo/hello to user alice (403): "
     "is missing the Job/Configure permission"),
    (403, "Authentication required", None, False, "forbidden", False, "Authentication required"),
    (403, "<h2>HTTP ERROR 403 No valid crumb was included in the request</h2>", None, False,
     "crumb", False, "crumbIssuer/api/json answered 404, so no crumb was sent"),
    (403, "No valid crumb was included in the request", None,
     {"crumbRequestField": "Jenkins-Crumb", "crumb": "abc"}, "crumb", False,
     "the crumb or its session cookie was refused"),
    (404, "Not Found", None, False, "not-found", False, "reconfigure demo/hello: not found"),
    (400, "<html>A job already exists</html>", {"X-Error": "A job already exists with the name "
                                                          "‘hello’"},
     False, "client", False, "Jenkins refused reconfigure demo/hello (400): A job already exists"),
    (409, "conflict", None, False, "client", False, "(409): conflict"),
    (500, "<html><head><title>Oops!</title></head><body>java.io.IOException: Failed to "
          "persist config.xml</body></html>", None, False, "server", True,
     "Jenkins answered 500 to reconfigure demo/hello: Oops! java.io.IOException"),
    (502, "Bad Gateway", None, False, "server", True, "answered 502"),
    (503, "", None, False, "server", True, "answered 503 to reconfigure demo/hello: "
                                           "Service Unavailable"),
    (504, "Gateway Timeout", None, False, "server", True, "answered 504"),
]


@pytest.mark.parametrize("status,body,headers,crumb,kind,retryable,words", HTTP_CASES,
                         ids=[f"{c[0]}-{c[4]}" for c in HTTP_CASES])
def test_http_failures_are_mapped(status, body, headers, crumb, kind, retryable, words):
    failure = mapped(status, body, headers, crumb)
    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert words in failure.message
    assert "\n" not in failure.message
    assert failure.status == status


def test_python_jenkins_exception_types_are_what_we_expect():
    # The mapping relies on these; a python-jenkins upgrade that changes them should fail here.
    assert type(raised_by_python_jenkins(401)) is jenkins.JenkinsException
    assert type(raised_by_python_jenkins(404)) is jenkins.NotFoundException
    assert type(raised_by_python_jenkins(503)) is requests.exceptions.HTTPError


def test_connection_refused_is_retryable_and_names_the_url():
    with socket.socket() as sock:  # bound, not listening: connects are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        server = jenkins.Jenkins(url, "alice", TOKEN, timeout=5)
        with pytest.raises(requests.exceptions.ConnectionError) as info:
            server.get_job_config("demo/hello")
    failure = classify(info.value, what="read", url=url, user="alice")
    assert failure.kind == "unreachable" and failure.retryable
    assert failure.message == f"cannot reach Jenkins at {url}: Connection refused"


@pytest.mark.parametrize("exc,kind,retryable,words", [
    (jenkins.TimeoutException("Error in request: timed out"), "timeout", True, "in time"),
    (requests.exceptions.ReadTimeout("Read timed out"), "timeout", True, "in time"),
    (jenkins.EmptyResponseException("Empty response"), "response", False, "empty response"),
    (jenkins.BadHTTPException("Error communicating"), "response", False, "broken HTTP"),
    (jenkins.JenkinsException("Cannot create job[a/b/hello] because folder for the job does "
                              "not exist"), "not-found", False, "folder a/b does not exist"),
    (jenkins.JenkinsException("job[demo/hello] already exists"), "jenkins", False,
     "job[demo/hello] already exists"),
    (requests.exceptions.SSLError("certificate verify failed"), "unreachable", False, "TLS"),
    (requests.exceptions.ChunkedEncodingError("Connection broken"), "unreachable", True,
     "cannot reach Jenkins"),
    (requests.exceptions.TooManyRedirects("Exceeded 30 redirects."), "response", False,
     "TooManyRedirects"),
])
def test_other_exceptions_are_mapped(exc, kind, retryable, words):
    failure = classify(exc, what="create a/b/hello", url=URL, user="alice")
    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert words in failure.message


def test_unrelated_exceptions_are_not_mapped():
    assert classify(KeyError("x"), what="x", url=URL, user="alice") is None


# -- credentials -------------------------------------------------------------------------

def test_credentials_from_environment():
    creds = clientmod.read_credentials({"JENKINS_USER": "alice", "JENKINS_TOKEN": TOKEN})
    assert creds == Credentials("alice", TOKEN)
    assert TOKEN not in repr(creds)


def test_credentials_from_token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    creds = clientmod.read_credentials({"JENKINS_USER": "alice",
                                        "JENKINS_TOKEN_FILE": str(path)})
    assert creds.token == TOKEN


def test_credentials_file_wins_over_environment(tmp_path):
    path = tmp_path / "creds"
    path.write_text(f"bob:{TOKEN}\n")
    creds = clientmod.read_credentials({"JENKINS_USER": "alice", "JENKINS_TOKEN": "x"},
                                       str(path))
    assert creds == Credentials("bob", TOKEN)


@pytest.mark.parametrize("environ,words", [
    ({}, "JENKINS_USER is not set"),
    ({"JENKINS_USER": "alice"}, "JENKINS_TOKEN is not set"),
    ({"JENKINS_TOKEN": TOKEN}, "JENKINS_USER is not set"),
    ({"JENKINS_USER": "alice", "JENKINS_TOKEN_FILE": "/nonexistent/token"},
     "cannot read JENKINS_TOKEN_FILE"),
])
def test_missing_credentials_are_usage_errors(environ, words):
    with pytest.raises(UsageError, match=words) as info:
        clientmod.read_credentials(environ)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("content", ["", "alice", f":{TOKEN}", "alice:"])
def test_bad_credentials_file(tmp_path, content):
    path = tmp_path / "creds"
    path.write_text(content)
    with pytest.raises(UsageError, match="USER:TOKEN") as info:
        clientmod.read_credentials({}, str(path))
    assert TOKEN not in str(info.value)


def test_redact():
    creds = Credentials("alice", TOKEN)
    assert creds.redact(f"x {TOKEN} y") == "x **** y"
    assert Credentials("alice", "tok").redact("API tokens") == "API tokens"


# -- URLs ----------------------------------------------------------------------------------

def test_check_url_adds_the_slash():
    assert clientmod.check_url("http://j:8080/jenkins") == "http://j:8080/jenkins/"


@pytest.mark.parametrize("url,words", [
    (None, "no Jenkins URL"),
    ("", "no Jenkins URL"),
    ("jenkins.example", "http(s) URL"),
    ("ftp://jenkins.example/", "http(s) URL"),
    (f"http://alice:{TOKEN}@jenkins.example/", "must not carry a user or token"),
    (f"ftp://alice:{TOKEN}@jenkins.example/", "http(s) URL"),
])
def test_bad_urls_are_usage_errors_without_the_token(url, words):
    with pytest.raises(UsageError) as info:
        clientmod.check_url(url)
    assert words in str(info.value)
    assert TOKEN not in str(info.value)


# -- retries -------------------------------------------------------------------------------

@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(clientmod, "BACKOFF_INITIAL", 0.0)


def make_client(**kwargs):
    reports = []
    client = clientmod.Client(URL, Credentials("alice", TOKEN), report=reports.append, **kwargs)
    return client, reports


def failing(statuses, result="done"):
    """fn for Client.call: raise python-jenkins' exception for each status, then succeed."""
    calls = []

    def fn(server, attempt):
        calls.append(attempt)
        if len(calls) <= len(statuses):
            raise raised_by_python_jenkins(statuses[len(calls) - 1])
        return result
    return fn, calls


def test_5xx_is_retried_through(fast):
    client, reports = make_client()
    fn, calls = failing([503, 500])
    assert client.call("read x", fn) == "done"
    assert calls == [1, 2, 3]
    assert [r.split(" after")[0] for r in reports] == [
        "retrying read x (attempt 2/4)", "retrying read x (attempt 3/4)"]


def test_retries_are_bounded(fast):
    client, _ = make_client(attempts=4)
    fn, calls = failing([500] * 10)
    with pytest.raises(RequestFailed) as info:
        client.call("read x", fn)
    assert len(calls) == 4
    assert info.value.failure.kind == "server"
    assert info.value.exit_code == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_4xx_is_not_retried(fast, status):
    client, reports = make_client()
    fn, calls = failing([status] * 3)
    with pytest.raises(RequestFailed):
        client.call("read x", fn)
    assert len(calls) == 1 and reports == []


def test_connection_errors_are_retried(fast):
    client, _ = make_client()
    calls = []

    def fn(server, attempt):
        calls.append(attempt)
        if attempt < 3:
            raise requests.exceptions.ConnectionError("[Errno 111] Connection refused")
        return "ok"

    assert client.call("read x", fn) == "ok"
    assert calls == [1, 2, 3]


def test_a_refused_crumb_is_fetched_again_once(fast):
    client, _ = make_client()
    seen = []

    def fn(server, attempt):
        seen.append(server.crumb)
        if len(seen) == 1:
            server.crumb = {"crumbRequestField": "Jenkins-Crumb", "crumb": "stale"}
            raise raised_by_python_jenkins(403, "No valid crumb was included in the request",
                                           crumb=server.crumb)
        return "ok"

    assert client.call("create x", fn) == "ok"
    assert seen == [None, None]  # the stale crumb was dropped before the second try


def test_no_crumb_issuer_is_not_asked_again(fast):
    client, _ = make_client()
    calls = []

    def fn(server, attempt):
        server.crumb = False
        calls.append(attempt)
        raise raised_by_python_jenkins(403, "No valid crumb was included in the request")

    with pytest.raises(RequestFailed) as info:
        client.call("create x", fn)
    assert len(calls) == 1
    assert info.value.failure.kind == "crumb"


def test_jenkins_objects_are_reused_not_shared():
    client, _ = make_client()
    with client._server() as first:
        with client._server() as second:   # in use: a second object
            assert first is not second
    with client._server() as again:
        assert again in (first, second)    # returned to the pool, reused


def test_failure_messages_are_redacted(fast):
    client, _ = make_client()

    def fn(server, attempt):
        raise jenkins.JenkinsException(f"job[{TOKEN}] already exists")

    with pytest.raises(RequestFailed) as info:
        client.call("create x", fn)
    assert TOKEN not in str(info.value) and "****" in str(info.value)


def test_failure_is_a_value():
    assert Failure("server", "m", 500, True).retryable
