"""Route handlers for controller-wide endpoints: root, crumbs, users, plugins."""

from __future__ import annotations

from typing import Iterable

from .context import Ctx
from .errors import NotFound
from .executors import BuiltInComputer, ComputerSet
from .exported import Exported, Prop
from .model import Folder
from .security import ANONYMOUS, CRUMB_FIELD
from .web import Response, api_json, html_page


class _CrumbIssuer(Exported):
    jenkins_class = "hudson.security.csrf.DefaultCrumbIssuer"

    def __init__(self, crumb: str) -> None:
        self.crumb = crumb

    def exported(self) -> Iterable[Prop]:
        return (Prop("crumb", lambda: self.crumb),
                Prop("crumbRequestField", lambda: CRUMB_FIELD))


class _WhoAmI(Exported):
    jenkins_class = "hudson.security.WhoAmI"

    def __init__(self, user: str) -> None:
        self.user = user

    def exported(self) -> Iterable[Prop]:
        anonymous = self.user == ANONYMOUS
        authorities = ["anonymous"] if anonymous else ["authenticated"]
        return (Prop("anonymous", lambda: anonymous),
                Prop("authenticated", lambda: True),
                Prop("authorities", lambda: authorities),
                Prop("details", lambda: None),
                Prop("name", lambda: self.user),
                Prop("toString", lambda: f"Authentication for {self.user}"))


class _User(Exported):
    jenkins_class = "hudson.model.User"

    def __init__(self, base_url: str, user: str) -> None:
        self.base_url, self.user = base_url, user

    def exported(self) -> Iterable[Prop]:
        return (Prop("absoluteUrl", lambda: f"{self.base_url}user/{self.user}"),
                Prop("description", lambda: None),
                Prop("fullName", lambda: self.user),
                Prop("id", lambda: self.user),
                Prop("property", lambda: []))


def _computer(ctx: Ctx) -> BuiltInComputer:
    """The computer named in ``computer/NAME/``: only the built-in node, which Jenkins
    (``Jenkins.getComputer``) finds as ``(built-in)`` or, as before 2.307, ``(master)``."""
    if ctx.req.path.split("/")[1] not in ("(built-in)", "(master)"):
        raise NotFound()
    return ctx.app.queue.computer


def computer_set(ctx: Ctx) -> Response:
    """GET ``computer/api/json``: the nodes (only the built-in one here)."""
    return api_json(ctx.req, ComputerSet(ctx.app.queue.computer))


def computer_api(ctx: Ctx) -> Response:
    """GET ``computer/(built-in)/api/json`` (``(master)`` before 2.307)."""
    return api_json(ctx.req, _computer(ctx))


def executor_api(ctx: Ctx) -> Response:
    """GET ``computer/(built-in)/executors/N/api/json`` (or ``oneOffExecutors/N``):
    Stapler indexes the ``getExecutors()`` list, 404 past its end (jenkinsapi's
    ``Executors`` reads each one so)."""
    _, _, kind, index = ctx.req.path.split("/")[:4]
    computer = _computer(ctx)
    executors = computer.executors if kind == "executors" else computer.one_off
    if int(index) >= len(executors):
        raise NotFound()
    return api_json(ctx.req, executors[int(index)])


def user_api(ctx: Ctx) -> Response:
    """GET ``user/<id>/api/json``: a known user (core User; ``Jenkins.getUser`` answers
    404 for an id it does not know, without creating it)."""
    user = ctx.req.path.split("/")[1]
    if user not in ctx.app.security.users:
        raise NotFound()
    return api_json(ctx.req, _User(ctx.app.root.base_url, user))


def root_page(ctx: Ctx) -> Response:
    """GET ``/``: the dashboard (python-jenkins reads ``X-Jenkins`` from it)."""
    return html_page("Dashboard")


def root_api(ctx: Ctx) -> Response:
    """GET ``/api/json``."""
    return api_json(ctx.req, ctx.app.root)


def crumb_issuer(ctx: Ctx) -> Response:
    """GET ``crumbIssuer/api/json``: a crumb bound to user and web session.

    Without a live session cookie a new session is started (``Set-Cookie``),
    as Jenkins does; 404 when CSRF protection is off.
    """
    security = ctx.app.security
    if not security.csrf:
        raise NotFound()
    session, cookie = ctx.req.session, None
    if session is None:
        session, cookie = security.new_session()
    response = api_json(ctx.req, _CrumbIssuer(security.crumb(ctx.req.user, session)))
    if cookie is not None:
        response.headers.append(("Set-Cookie", cookie))
    return response


def who_am_i(ctx: Ctx) -> Response:
    """GET ``whoAmI/api/json`` (reachable anonymously)."""
    return api_json(ctx.req, _WhoAmI(ctx.req.user))


def me(ctx: Ctx) -> Response:
    """GET ``me/api/json``: the authenticated user (python-jenkins get_whoami)."""
    return api_json(ctx.req, _User(ctx.app.root.base_url, ctx.req.user))


def plugin_manager(ctx: Ctx) -> Response:
    """GET ``pluginManager/api/json?depth=2``."""
    return api_json(ctx.req, ctx.app.plugins)


def view_api(ctx: Ctx) -> Response:
    """GET ``[job/F/]view/NAME/api/json`` for the one ``All`` view per group."""
    group = ctx.group
    view = group.view if isinstance(group, Folder) else ctx.app.root.view
    if ctx.view != view.name:
        raise NotFound()
    return api_json(ctx.req, view)
