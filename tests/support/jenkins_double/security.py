"""Authentication (API tokens), authorisation and CSRF crumbs.

Behaviour reproduced from a secured Jenkins (2.222+):

* a wrong user/token in Basic auth -> 401 ``Invalid password/token``;
* no credentials -> the request runs as ``anonymous``, who (without
  anonymous read access) gets **403 "Authentication required"** with the
  ``X-You-Are-Authenticated-As``/``X-Required-Permission`` headers;
* a user lacking a permission -> 403 ``Access Denied: X is missing the
  Job/Configure permission``;
* the default crumb issuer binds a crumb to the user *and* the web session
  (``JSESSIONID.<id>`` cookie set by ``crumbIssuer``): a POST without the
  matching ``Jenkins-Crumb`` header/parameter, or without the session cookie
  the crumb was issued in, gets 403 "No valid crumb was included in the
  request".  Jenkins 2.96+ exempts requests authenticated with an API token
  (core ``ApiCrumbExclusion``: ``BasicHeaderApiTokenAuthenticator`` marks the
  request, the exclusion lets it through); the double does so for such versions
  unless ``crumb_exempt_api_tokens=False``.  Only POST is checked (core
  ``CrumbFilter``: ``"POST".equals(httpRequest.getMethod())``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from http.cookies import CookieError, SimpleCookie
from typing import Iterable, Optional

from .errors import HttpError

CRUMB_FIELD = "Jenkins-Crumb"
ANONYMOUS = "anonymous"

# Permission display names used by the route table -> Java permission ids.
PERMISSIONS = {
    "Overall/Read": "hudson.model.Hudson.Read",
    "Overall/Administer": "hudson.model.Hudson.Administer",
    "Job/Read": "hudson.model.Item.Read",
    "Job/ExtendedRead": "hudson.model.Item.ExtendedRead",
    "Job/Create": "hudson.model.Item.Create",
    "Job/Configure": "hudson.model.Item.Configure",
    "Job/Delete": "hudson.model.Item.Delete",
    "Job/Build": "hudson.model.Item.Build",
    "Job/Cancel": "hudson.model.Item.Cancel",
    "Run/Update": "hudson.model.Run.Update",
}
READ_ONLY = frozenset({"Overall/Read", "Job/Read"})


class Security:
    """Users, their permissions, web sessions and crumbs."""

    def __init__(self, users: dict[str, str], readonly_users: Iterable[str] = (),
                 csrf: bool = True, anonymous_read: bool = False,
                 crumb_exempt_api_tokens: bool = False) -> None:
        self.users = dict(users)
        self.readonly_users = frozenset(readonly_users)
        self.csrf = csrf
        self.anonymous_read = anonymous_read
        self.crumb_exempt_api_tokens = crumb_exempt_api_tokens
        self._salt = secrets.token_bytes(16)
        self.cookie_name = f"JSESSIONID.{secrets.token_hex(4)}"
        self._sessions: set[str] = set()

    # -- authentication -----------------------------------------------------
    def authenticate(self, authorization: Optional[str]) -> str:
        """Return the user for an ``Authorization`` header, ``anonymous`` if none.

        Raises a 401 HttpError for unknown users or wrong tokens.
        """
        if not authorization:
            return ANONYMOUS
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return ANONYMOUS
        try:
            user, _, token = base64.b64decode(encoded.strip()).decode(
                "utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("Invalid Authorization header") from None
        expected = self.users.get(user)
        if expected is None or not hmac.compare_digest(
                expected.encode(), token.encode()):
            raise _unauthorized(f"Invalid password/token for user: {user}")
        return user

    # -- authorisation ------------------------------------------------------
    def has(self, user: str, permission: Optional[str]) -> bool:
        """Whether ``user`` holds ``permission`` (None = unprotected)."""
        if permission is None:
            return True
        if user == ANONYMOUS:
            return self.anonymous_read and permission in READ_ONLY
        if user in self.readonly_users:
            return permission in READ_ONLY
        return user in self.users

    def check(self, user: str, permission: Optional[str]) -> None:
        """Raise the 403 Jenkins sends when ``user`` lacks ``permission``."""
        if self.has(user, permission):
            return
        assert permission is not None
        headers = {"X-You-Are-Authenticated-As": user,
                   "X-Required-Permission": PERMISSIONS[permission]}
        if user == ANONYMOUS:
            headers["X-You-Are-In-Group-Disabled"] = (
                "JENKINS-39402: use -Dhudson.security.AccessDeniedException2."
                "REPORT_GROUP_HEADERS=true or use /whoAmI to diagnose")
            raise HttpError(403, "Authentication required", headers)
        raise HttpError(403, f"Access Denied: {user} is missing the "
                             f"{permission} permission", headers)

    # -- sessions and crumbs ------------------------------------------------
    def session_of(self, cookie_header: Optional[str]) -> Optional[str]:
        """The live session id carried by a ``Cookie`` header, if any."""
        if not cookie_header:
            return None
        try:
            morsel = SimpleCookie(cookie_header).get(self.cookie_name)
        except CookieError:
            return None
        if morsel is None or morsel.value not in self._sessions:
            return None
        return morsel.value

    def new_session(self) -> tuple[str, str]:
        """Create a session; return its id and the ``Set-Cookie`` value."""
        session = secrets.token_urlsafe(18)
        self._sessions.add(session)
        return session, f"{self.cookie_name}={session}; Path=/; HttpOnly"

    def drop_sessions(self) -> None:
        """Forget every web session, as a controller restart does."""
        self._sessions.clear()

    def crumb(self, user: str, session: str) -> str:
        """The crumb for (user, session), like DefaultCrumbIssuer's salted hash."""
        return hmac.new(self._salt, f"{user};{session}".encode(),
                        hashlib.sha256).hexdigest()

    def needs_crumb(self, method: str, user: str) -> bool:
        """Whether the CrumbFilter would check this request."""
        if not self.csrf or method != "POST":
            return False
        return not (self.crumb_exempt_api_tokens and user != ANONYMOUS)

    def check_crumb(self, user: str, session: Optional[str],
                    supplied: Optional[str]) -> None:
        """403 unless ``supplied`` is the crumb issued to ``user`` in ``session``."""
        if session is not None and supplied is not None and hmac.compare_digest(
                supplied, self.crumb(user, session)):
            return
        raise HttpError(403, "No valid crumb was included in the request")


def _unauthorized(message: str) -> HttpError:
    return HttpError(401, message, {"WWW-Authenticate": 'Basic realm="Jenkins"'})
