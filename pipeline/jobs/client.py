"""The Jenkins connection: credentials, python-jenkins calls, retries.

python-jenkins' `Jenkins` objects keep a requests session, a cached CSRF crumb bound to that
session, and are not documented as thread-safe, so `Client` lends each thread one of its own
for the length of a call. Failures are mapped by `pipeline.jobs.failures` and retried here
with tenacity when a retry can help (5xx and connection errors, never a 4xx).

No message built here contains the API token: python-jenkins puts none in its messages, the
URL is refused if it carries userinfo, and `Credentials.redact` scrubs what we print anyway.
"""
import contextlib
import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import jenkins
import requests
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from pipeline.errors import UsageError
from pipeline.jobs.failures import Failure, RequestFailed, classify

DEFAULT_TIMEOUT = 30.0     # seconds per HTTP request: python-jenkins' default is "wait forever"
DEFAULT_ATTEMPTS = 4       # tries per request, first one included
BACKOFF_INITIAL = 0.5      # seconds before the first retry, doubling (with jitter) after that
BACKOFF_MAX = 8.0
MIN_REDACTED = 8           # shortest token Credentials.redact scrubs from messages


@dataclass(frozen=True)
class Credentials:
    """A Jenkins user and API token. The token never appears in repr() or messages."""

    user: str
    token: str = field(repr=False)

    def redact(self, text):
        """`text` with the token replaced, for anything that might be printed.

        Tokens shorter than MIN_REDACTED are left alone: replacing "tok" would mangle every
        "token" in a message, and Jenkins API tokens are 32+ characters.
        """
        if len(self.token) < MIN_REDACTED:
            return text
        return text.replace(self.token, "****")


def read_credentials(environ, credentials_file=None):
    """User and token from --credentials-file, JENKINS_USER + JENKINS_TOKEN(_FILE).

    Never from argv: a token on the command line ends up in `ps` and in Jenkins' logs.
    """
    if credentials_file:
        text = _read_secret(credentials_file, "--credentials-file")
        user, sep, token = text.partition(":")
        if not sep or not user or not token:
            raise UsageError("--credentials-file must hold one line USER:TOKEN",
                             hint="e.g. printf '%s:%s' \"$USER\" \"$TOKEN\" > FILE")
        return Credentials(user, token)
    user = environ.get("JENKINS_USER")
    token = environ.get("JENKINS_TOKEN")
    token_file = environ.get("JENKINS_TOKEN_FILE")
    if token is None and token_file:
        token = _read_secret(token_file, "JENKINS_TOKEN_FILE")
    if not user or not token:
        missing = "JENKINS_USER" if not user else "JENKINS_TOKEN"
        raise UsageError(f"no Jenkins credentials: {missing} is not set",
                         hint="set JENKINS_USER and JENKINS_TOKEN (or JENKINS_TOKEN_FILE), "
                              "or pass --credentials-file FILE holding USER:TOKEN")
    return Credentials(user, token)


def _read_secret(path, what):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}",
                         hint="point it at a readable file") from None


def check_url(url):
    """The Jenkins base URL, with a trailing slash; UsageError for a URL we cannot use."""
    if not url:
        raise UsageError("no Jenkins URL", hint="pass --jenkins-url URL or set JENKINS_URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--jenkins-url must be an http(s) URL, got {_without_userinfo(url)!r}")
    if parts.username or parts.password:
        # Refused rather than stripped: a token in the URL is already in shell history.
        raise UsageError("--jenkins-url must not carry a user or token",
                         hint="pass the user and token through JENKINS_USER/JENKINS_TOKEN")
    return url if url.endswith("/") else url + "/"


def _without_userinfo(url):
    return re.sub(r"//[^/@]*@", "//", url)


def _folder_url(folder):
    """"a/b" -> "job/a/job/b/" ("" for the root), each name quoted."""
    return "".join(f"job/{quote(part, safe='')}/" for part in folder.split("/") if part)


@dataclass
class LiveItem:
    """An item found in Jenkins by `Client.inventory`."""

    path: str
    java_class: str
    description: str
    is_group: bool      # a folder (anything with child items)


class Client:
    """python-jenkins with retries and error mapping, shareable between threads.

    `report(line)` receives retry notices; it may be called from worker threads.
    Safe to share between threads: each call borrows a `Jenkins` object of its own.
    """

    def __init__(self, url, credentials, *, timeout=DEFAULT_TIMEOUT,
                 attempts=DEFAULT_ATTEMPTS, report=None):
        self.url = check_url(url)
        self.credentials = credentials
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.report = report or (lambda line: None)
        self._lock = threading.Lock()
        self._idle = []

    # -- plumbing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _server(self):
        """A python-jenkins `Jenkins` for this thread's exclusive use while in the block.

        Objects are pooled rather than kept per thread: each one holds a web session and the
        crumb bound to it, so reusing them across thread pools costs one crumb request per
        object ever in use at once, instead of one per thread ever started.
        """
        with self._lock:
            server = self._idle.pop() if self._idle else None
        if server is None:
            # retries=0: tenacity below is the only retry layer, so attempts stay bounded.
            server = jenkins.Jenkins(self.url, username=self.credentials.user,
                                     password=self.credentials.token,
                                     timeout=self.timeout, retries=0)
        try:
            yield server
        finally:
            with self._lock:
                self._idle.append(server)

    def call(self, what, fn):
        """Return `fn(server, attempt)`, retrying 5xx and connection failures.

        `what` names the operation in messages ("create demo/hello"). Whatever still fails
        is raised as RequestFailed, whose `failure` says how.
        """
        def retryable(exc):
            return isinstance(exc, RequestFailed) and exc.failure.retryable

        def before_sleep(state):
            failure = state.outcome.exception().failure
            self.report(self.credentials.redact(
                f"retrying {what} (attempt {state.attempt_number + 1}/{self.attempts}) "
                f"after: {failure.message}"))

        for attempt in Retrying(
                stop=stop_after_attempt(self.attempts),
                # 0.5 s, 1 s, 2 s... plus jitter, so parallel workers do not come back
                # to a recovering Jenkins in lock-step.
                wait=(wait_exponential(multiplier=BACKOFF_INITIAL, max=BACKOFF_MAX)
                      + wait_random(0, BACKOFF_INITIAL / 2)),
                retry=retry_if_exception(retryable), before_sleep=before_sleep,
                reraise=True):
            with attempt:
                return self._once(what, fn, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: Retrying reraises")  # pragma: no cover

    def _once(self, what, fn, attempt_number):
        with self._server() as server:
            for crumb_try in (1, 2):
                try:
                    return fn(server, attempt_number)
                except (jenkins.JenkinsException, requests.exceptions.RequestException) as exc:
                    failure = classify(exc, what=what, url=self.url,
                                       user=self.credentials.user, crumb_state=server.crumb)
                if failure.kind == "crumb" and server.crumb and crumb_try == 1:
                    # Crumbs are bound to a web session Jenkins may have expired: fetch a
                    # fresh one once. With no crumb issuer (crumb False) asking is useless.
                    server.crumb = None
                    continue
                break
        failure = Failure(failure.kind, self.credentials.redact(failure.message),
                          failure.status, failure.retryable)
        raise RequestFailed(failure)

    # -- operations ----------------------------------------------------------------------
    def inventory(self, depth=4):
        """Every item in Jenkins: {path: LiveItem}. One request per `depth` folder levels."""
        found = {}
        pending = [""]
        while pending:
            folder = pending.pop()
            data = self._tree(folder, depth)
            self._walk(data.get("jobs") or [], folder, depth, found, pending)
        return found

    def _tree(self, folder, depth):
        tree = "jobs"
        for _ in range(depth):
            tree = f"jobs[name,description,{tree}]"
        prefix = _folder_url(folder)
        where = f"list {folder or 'the items'} of Jenkins"

        def fetch(server, _attempt):
            text = server.jenkins_open(requests.Request(
                "GET", f"{self.url}{prefix}api/json?tree={tree}"))
            if not text:
                raise jenkins.EmptyResponseException(f"empty answer to {where}")
            return text

        text = self.call(where, fetch)
        try:
            return json.loads(text)
        except ValueError:
            raise RequestFailed(Failure("response", f"{where}: Jenkins did not answer "
                                        "with JSON (is the URL Jenkins' root?)")) from None

    def _walk(self, jobs, folder, depth, found, pending):
        for job in jobs:
            name = job.get("name")
            if not name:
                continue  # a child below the fetched depth: only its _class was sent
            path = f"{folder}/{name}" if folder else name
            children = job.get("jobs")
            found[path] = LiveItem(path, job.get("_class", ""), job.get("description") or "",
                                   children is not None)
            if not children:
                continue
            if depth > 1:
                self._walk(children, path, depth - 1, found, pending)
            else:
                pending.append(path)  # deeper than one request goes: fetch it on its own

    def get_config(self, path):
        """The item's config.xml, or None when it does not exist."""
        def fetch(server, _attempt):
            try:
                return server.get_job_config(path)
            except jenkins.NotFoundException:
                return None

        return self.call(f"read {path}/config.xml", fetch)

    def create(self, path, config_xml):
        """Create the item (folder or job) from its config.xml: one POST to createItem.

        Not `Jenkins.create_job`: that wraps the POST in two existence checks (three requests
        per item), and the listing already told us the item is missing.
        """
        parent, _, name = path.rpartition("/")
        url = f"{self.url}{_folder_url(parent)}createItem?name={quote(name, safe='')}"

        def create(server, attempt):
            # A retried createItem may follow one that did succeed before its answer got
            # lost: then the item is there, carrying our config already; make sure of it.
            if attempt > 1 and server.job_exists(path):
                server.reconfig_job(path, config_xml)
                return
            try:
                server.jenkins_open(requests.Request(
                    "POST", url, data=config_xml.encode("utf-8"),
                    headers={"Content-Type": "text/xml; charset=utf-8"}))
            except jenkins.NotFoundException:
                raise jenkins.JenkinsException(  # create_job's words, mapped by classify
                    f"Cannot create job[{path}] because folder for the job does not exist"
                ) from None

        self.call(f"create {path}", create)

    def reconfigure(self, path, config_xml):
        """POST config.xml to an existing item (idempotent, safe to retry)."""
        self.call(f"reconfigure {path}",
                  lambda server, _attempt: server.reconfig_job(path, config_xml))

    def delete(self, path):
        """Delete the item; one that is gone already counts as deleted."""
        def delete(server, _attempt):
            try:
                server.delete_job(path)
            except jenkins.NotFoundException:
                pass  # a retry after a delete whose answer was lost, or someone was faster

        self.call(f"delete {path}", delete)
