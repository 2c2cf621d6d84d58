"""Route handlers for items: create, config.xml, delete, rename, enable/disable.

Semantics follow ``ItemGroupMixIn.createTopLevelItem``,
``AbstractItem.doConfigDotXml``/``updateByXml``/``doDoDelete`` and
``ParameterizedJob.doEnable``/``doDisable``.
"""

from __future__ import annotations

import html

from . import config as cfg
from .context import App, Ctx
from .errors import Failure, NotFound, ServerError
from .jobs import Job
from .model import Folder, Item, ItemGroup
from .web import XML_TYPE, Response, api_json, html_page, redirect, text_response


def parse_for(app: App, xml: bytes) -> cfg.ParsedConfig:
    """Parse config.xml, treating types whose plugin is missing as unknown."""
    parsed = cfg.parse_config(xml)
    plugin = parsed.item_type.plugin
    if plugin and app.plugins.version_of(plugin) is None:
        raise ServerError("java.io.IOException: Unable to read config.xml",
                          "com.thoughtworks.xstream.mapper."
                          f"CannotResolveClassException: {parsed.item_type.root_tag}")
    return parsed


def new_item(app: App, group: ItemGroup, name: str, config_xml: str,
             parsed: cfg.ParsedConfig) -> Item:
    """Create and attach a Folder or Job (the name was validated by the caller)."""
    kind = Folder if parsed.item_type.is_folder else Job
    # Jenkins keeps the objects, not the bytes (xstream.py).
    item = kind(app.root, group, name, app.root.xstream.store(config_xml), parsed)
    group.add_child(item)
    return item


def already_exists(name: str) -> Failure:
    """``Messages.Hudson_JobAlreadyExists``."""
    return Failure(f"A job already exists with the name ‘{name}’")


def create_item(ctx: Ctx) -> Response:
    """POST ``createItem?name=X``: from config.xml body, ``mode=<class>`` or copy."""
    req, group = ctx.req, ctx.group
    assert group is not None
    content_type = req.header("Content-Type")
    mode = req.param("mode")
    if content_type is None and mode != "copy":
        raise Failure("No Content-Type header set")
    is_xml = content_type is not None and content_type.startswith(
        ("application/xml", "text/xml"))
    raw_name = req.param("name")
    if raw_name is None:
        raise Failure("Query parameter 'name' is required")
    name = cfg.check_good_name(raw_name)
    if group.get_child(name) is not None:
        raise already_exists(name)
    if mode == "copy":
        item = _copy(ctx, group, name, req.param("from") or "")
    elif is_xml:
        parsed = parse_for(ctx.app, req.body)
        new_item(ctx.app, group, name, req.body.decode("utf-8", "replace"), parsed)
        return Response(200, b"", None)  # XML submissions answer 200, no redirect
    elif mode is None:
        raise Failure("No mode given")
    else:
        item_type = cfg.BY_CLASS.get(mode)
        if item_type is None or (item_type.plugin and
                                 ctx.app.plugins.version_of(item_type.plugin) is None):
            raise Failure(f"No item type ‘{mode}’ is known")
        xml = cfg.DEFAULT_CONFIGS[item_type]
        item = new_item(ctx.app, group, name, xml, cfg.parse_config(xml.encode()))
    return redirect(f"{item.url}configure")


def _copy(ctx: Ctx, group: ItemGroup, name: str, source: str) -> Item:
    src = None if source.startswith("/") else group.get_child(source)
    if src is None:
        src = ctx.app.root.by_full_name(source)
    if src is None:
        raise Failure("Specify which job to copy" if not source.strip()
                      else f"No such job: {source}")
    item = new_item(ctx.app, group, name, src.config_xml,
                    cfg.parse_config(src.config_xml.encode("utf-8")))
    if isinstance(item, Job) and item.item_type is cfg.FREESTYLE:
        # AbstractProject.onCopiedFrom: not buildable until the config is saved.
        item.hold_off_build = True
    return item


def config_xml(ctx: Ctx) -> Response:
    """GET/POST ``config.xml``: read it, or replace it (same item class only)."""
    item = ctx.item
    assert item is not None
    if ctx.req.method != "POST":
        return text_response(item.config_xml, XML_TYPE)
    parsed = parse_for(ctx.app, ctx.req.body)
    if parsed.item_type is not item.item_type:
        raise ServerError(f"java.io.IOException: Expecting class {item.jenkins_class}"
                          f" but got class {parsed.item_type.java_class} instead")
    item.apply_config(ctx.app.root.xstream.store(ctx.req.body), parsed)
    if isinstance(item, Job):
        item.hold_off_build = False
    return Response(200, b"", None)


def delete_item(ctx: Ctx) -> Response:
    """POST ``doDelete``: remove the item (and a folder's content), 302 to parent."""
    item = ctx.item
    assert item is not None
    item.parent.remove_child(item)
    item.on_deleted()
    return redirect(item.parent.group_url())


def delete_http(ctx: Ctx) -> Response:
    """HTTP ``DELETE`` on an item: core AbstractItem.delete(req, rsp) (Stapler's
    HttpDeletable), 204 No Content. No crumb: the CrumbFilter only checks POST."""
    item = ctx.item
    assert item is not None
    item.parent.remove_child(item)
    item.on_deleted()
    return Response(204, b"", None)


def rename_item(ctx: Ctx) -> Response:
    """POST ``doRename``/``confirmRename?newName=``: rename within the same parent."""
    item = ctx.item
    assert item is not None
    new_name = cfg.check_good_name(ctx.req.param("newName"))
    clash = item.parent.get_child(new_name)
    if clash is not None and clash is not item:
        raise already_exists(new_name)
    item.parent.remove_child(item)
    item.name = new_name
    item.parent.add_child(item)
    return redirect(item.url)


def set_enabled(ctx: Ctx, enabled: bool) -> Response:
    """POST ``enable``/``disable``: rewrite <disabled>, cancel queued builds."""
    job = ctx.item
    if not isinstance(job, Job):
        raise NotFound()
    if job.disabled == (not enabled):
        return redirect(job.url)  # makeDisabled is a no-op then
    job.disabled = not enabled
    job.config_xml = ctx.app.root.xstream.store(cfg.set_disabled(job.config_xml, job.disabled))
    if job.disabled:
        ctx.app.queue.cancel_for(job)
    return redirect(job.url)


def enable(ctx: Ctx) -> Response:
    """POST ``enable``."""
    return set_enabled(ctx, True)


def disable(ctx: Ctx) -> Response:
    """POST ``disable``."""
    return set_enabled(ctx, False)


def check_job_name(ctx: Ctx) -> Response:
    """GET ``checkJobName?value=``: a FormValidation HTML fragment."""
    group = ctx.group
    assert group is not None
    value = ctx.req.param("value") or ""
    if not value.strip():
        return text_response("<div/>", "text/html;charset=utf-8")
    try:
        name = cfg.check_good_name(value)
        if group.get_child(name) is not None:
            raise already_exists(name)
    except Failure as failure:
        fragment = f"<div class=error>{html.escape(failure.message)}</div>"
        return text_response(fragment, "text/html;charset=utf-8")
    return text_response("<div/>", "text/html;charset=utf-8")


def item_api(ctx: Ctx) -> Response:
    """GET ``job/X/api/json``."""
    return api_json(ctx.req, ctx.item)


def item_page(ctx: Ctx) -> Response:
    """GET ``job/X/`` (and ``configure``): the HTML page redirects land on."""
    assert ctx.item is not None
    return html_page(ctx.item.full_display_name)
