"""The endpoint table and the dispatcher that resolves, authorises and routes.

Every endpoint the double serves is one row of ``ROUTES``:
``(method, path regex, handler, permission, target)``; method ``ANY`` is a web
method without a verb annotation, which Stapler serves for every verb.  Paths are
matched percent-decoded, without the leading slash or query string.  Named groups:

* ``item``   -- ``job/a/job/b/``: must resolve to an existing item (else 404)
* ``parent`` -- ``(job/a/)*``: must resolve to the root or a folder (else 404)
* ``run``    -- build number or permalink of ``item`` (else 404)
* ``queue_item`` -- queue item id (else 404)
* ``view``   -- view name, checked by the handler

Resolution happens before the permission check, as in Jenkins (Stapler
cannot route to a missing object, so that is a 404 even for users who would
lack the permission).
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple, Optional
from urllib.parse import quote

from . import console
from . import handlers_builds as builds
from . import handlers_items as items
from . import handlers_system as system
from .context import App, Ctx
from .errors import HttpError, NotFound
from .jobs import Job
from .model import PERMALINKS
from .web import Request, Response, redirect

ITEM = r"(?P<item>(?:job/[^/]+/)+)"
PARENT = r"(?P<parent>(?:job/[^/]+/)*)"
RUN = r"(?P<run>\d+|" + "|".join(PERMALINKS) + r")/"
# Every exported object answers in three flavours (stapler export/Flavor.java).
API = r"api/(?:json|python|xml)"
JOB = "job"  # target: the item must be a buildable job, not a folder
# A web method with no verb annotation (no @POST, @GET...): Stapler serves any verb.
ANY = "ANY"


class Route(NamedTuple):
    """One endpoint: method, path regex, handler, required permission, target."""

    method: str
    pattern: str
    handler: Callable[[Ctx], Response]
    permission: Optional[str]
    target: Optional[str] = None

    @property
    def regex(self) -> "re.Pattern[str]":
        """The anchored compiled pattern."""
        return _compiled(self.pattern)


_CACHE: dict[str, "re.Pattern[str]"] = {}


def _compiled(pattern: str) -> "re.Pattern[str]":
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile(f"^{pattern}$")
    return _CACHE[pattern]


ROUTES: tuple[Route, ...] = (
    Route("GET", r"", system.root_page, "Overall/Read"),
    Route("GET", API, system.root_api, "Overall/Read"),
    Route("GET", r"crumbIssuer/" + API, system.crumb_issuer, "Overall/Read"),
    Route("GET", r"whoAmI/" + API, system.who_am_i, None),
    Route("GET", r"me/" + API, system.me, "Overall/Read"),
    Route("GET", r"pluginManager/" + API, system.plugin_manager, "Overall/Read"),
    Route("GET", r"queue/" + API, builds.queue_api, "Overall/Read"),
    Route("GET", r"queue/item/(?P<queue_item>\d+)/" + API,
          builds.queue_item_api, "Job/Read"),
    Route("POST", r"queue/cancelItem", builds.cancel_queue_item, "Job/Cancel"),
    Route("GET", r"computer/" + API, system.computer_set, "Overall/Read"),
    Route("GET", r"computer/[^/]+/" + API, system.computer_api, "Overall/Read"),
    Route("GET", r"computer/[^/]+/(?:executors|oneOffExecutors)/\d+/" + API,
          system.executor_api, "Overall/Read"),
    Route("GET", r"user/[^/]+/" + API, system.user_api, "Overall/Read"),
    Route("GET", PARENT + r"view/(?P<view>[^/]+)/" + API, system.view_api,
          "Overall/Read"),
    Route("GET", PARENT + r"checkJobName", items.check_job_name, "Job/Create"),
    Route("POST", PARENT + r"createItem", items.create_item, "Job/Create"),
    Route("GET", ITEM + r"(?:configure)?", items.item_page, "Job/Read"),
    Route("GET", ITEM + API, items.item_api, "Job/Read"),
    Route("GET", ITEM + r"config\.xml", items.config_xml, "Job/ExtendedRead"),
    Route("POST", ITEM + r"config\.xml", items.config_xml, "Job/Configure"),
    Route("POST", ITEM + r"doDelete", items.delete_item, "Job/Delete"),
    Route("DELETE", ITEM, items.delete_http, "Job/Delete"),
    Route("POST", ITEM + r"(?:doRename|confirmRename)", items.rename_item,
          "Job/Configure"),
    Route("POST", ITEM + r"enable", items.enable, "Job/Configure", JOB),
    Route("POST", ITEM + r"disable", items.disable, "Job/Configure", JOB),
    Route("POST", ITEM + r"build", builds.build, "Job/Build", JOB),
    Route("POST", ITEM + r"buildWithParameters", builds.build_with_parameters,
          "Job/Build", JOB),
    Route("GET", ITEM + RUN, builds.build_page, "Job/Read", JOB),
    Route("GET", ITEM + RUN + API, builds.build_api, "Job/Read", JOB),
    Route("GET", ITEM + RUN + r"consoleText", console.console_text, "Job/Read", JOB),
    Route(ANY, ITEM + RUN + r"logText/progressiveText", console.progressive_text,
          "Job/Read", JOB),
    Route(ANY, ITEM + RUN + r"logText/progressiveHtml", console.progressive_html,
          "Job/Read", JOB),
    Route("POST", ITEM + RUN + r"submitDescription", builds.submit_description,
          "Run/Update", JOB),
)


def match(method: str, path: str) -> tuple[Optional[Route], dict[str, str], int]:
    """Find the route for ``method path``.

    Returns ``(route, groups, 200)``, or ``(None, {}, 405)`` when only other
    methods serve that path, or ``(None, {}, 404)``.  HEAD is served as GET.
    """
    wanted = "GET" if method == "HEAD" else method
    other_method = False
    for route in ROUTES:
        found = route.regex.match(path)
        if found is None:
            continue
        if route.method in (wanted, ANY):
            return route, {k: v for k, v in found.groupdict().items() if v is not None}, 200
        other_method = True
    return None, {}, 405 if other_method else 404


def _names(prefix: str) -> list[str]:
    return re.findall(r"job/([^/]+)/", prefix)


def resolve(ctx: Ctx, route: Route, groups: dict[str, str]) -> None:
    """Fill ``ctx`` with the objects named in the URL, 404 when missing."""
    root = ctx.app.root
    if "item" in groups:
        ctx.item = root.resolve(_names(groups["item"]))
        if route.target == JOB and not isinstance(ctx.item, Job):
            raise NotFound()
    if "parent" in groups:
        ctx.group = root.resolve_group(_names(groups["parent"]))
    if "run" in groups:
        job = ctx.item
        assert isinstance(job, Job)
        run = groups["run"]
        ctx.build = job.builds.get(int(run)) if run.isdigit() else job.permalink(run)
        if ctx.build is None:
            raise NotFound()
    if "queue_item" in groups:
        ctx.queue_item = ctx.app.queue.all_items.get(int(groups["queue_item"]))
        if ctx.queue_item is None:
            raise NotFound()
    ctx.view = groups.get("view")


def dispatch(app: App, req: Request) -> Response:
    """Route an authenticated, crumb-checked request to its handler."""
    route, groups, status = match(req.method, req.path)
    if route is None:
        if status == 404 and req.method in ("GET", "HEAD"):
            slashed, _, _ = match("GET", req.path + "/")
            if slashed is not None:
                # Stapler redirects "job/x" to "job/x/" for index pages.
                return redirect(f"{app.root.base_url}{quote(req.path)}/")
        if status == 405:
            raise HttpError(405, "This URL requires POST" if req.method in ("GET", "HEAD")
                            else "Method Not Allowed")
        raise NotFound()
    ctx = Ctx(app, req)
    resolve(ctx, route, groups)
    app.security.check(req.user, route.permission)
    return route.handler(ctx)
