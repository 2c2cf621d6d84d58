"""Route handlers for triggering builds, the queue, and build results.

Semantics follow ``ParameterizedJobMixIn.doBuild``/``doBuildWithParameters``
(201 + ``Location: .../queue/item/N/``, 409 when not buildable),
``ParametersDefinitionProperty`` and ``Queue.doCancelItem``.
"""

from __future__ import annotations

import json
from typing import Optional

from .config import ParamDef
from .context import Ctx
from .errors import Conflict, HttpError, NotFound, ServerError
from .jobs import Job, ParametersAction, ParameterValue
from .web import Response, api_json, html_page, redirect


def _job(ctx: Ctx) -> Job:
    if not isinstance(ctx.item, Job):
        raise NotFound()
    return ctx.item


def _delay_seconds(ctx: Ctx) -> float:
    """``TimeDuration.fromString``: ``"5sec"`` is seconds, a bare number is ms."""
    raw = ctx.req.param("delay")
    if raw is None:
        return ctx.app.quiet_period
    text, factor = raw.strip(), 0.001
    for suffix in ("secs", "sec"):
        if text.endswith(suffix):
            text, factor = text[: -len(suffix)].strip(), 1.0
            break
    try:
        return int(text) * factor
    except ValueError:
        raise ServerError("java.lang.IllegalArgumentException: "
                          f"Invalid time duration value: {raw}") from None


def _value(definition: ParamDef, raw: Optional[str]) -> ParameterValue:
    if raw is None:
        return ParameterValue(definition, definition.default)
    if definition.kind == "BooleanParameterDefinition":
        raw = "true" if raw.lower() in ("true", "on") else "false"
    elif definition.kind == "ChoiceParameterDefinition" and raw not in definition.choices:
        raise ServerError("java.lang.IllegalArgumentException: Illegal choice for "
                          f"parameter {definition.name}: {raw}")
    return ParameterValue(definition, raw)


def _schedule(ctx: Ctx, job: Job, params: Optional[ParametersAction]) -> Response:
    item = ctx.app.queue.schedule(job, ctx.req.user, params, _delay_seconds(ctx))
    return Response(201, b"", None,
                    [("Location", f"{ctx.app.root.base_url}queue/item/{item.id}/")])


def build(ctx: Ctx) -> Response:
    """POST ``job/X/build``; a parameterized job needs a ``json`` form here."""
    job = _job(ctx)
    if not job.buildable:
        raise Conflict(f"{job.full_name} is not buildable")
    if not job.param_defs:
        return _schedule(ctx, job, None)
    submitted = ctx.req.param("json")
    if not submitted:
        # Stapler's getSubmittedForm() when the form field is missing.
        raise HttpError(400, "This page expects a form submission"
                        if ctx.req.params else "Nothing is submitted")
    try:
        form = json.loads(submitted)
    except ValueError:
        raise ServerError("net.sf.json.JSONException: invalid json form") from None
    entries = form.get("parameter", []) if isinstance(form, dict) else []
    entries = entries if isinstance(entries, list) else [entries]
    given = {e.get("name"): str(e.get("value", "")) for e in entries if isinstance(e, dict)}
    unknown = set(given) - {d.name for d in job.param_defs}
    if unknown:
        raise ServerError("java.lang.IllegalArgumentException: No such parameter "
                          f"definition: {sorted(unknown)[0]}")
    values = [_value(d, given.get(d.name)) for d in job.param_defs]
    return _schedule(ctx, job, ParametersAction(values))


def build_with_parameters(ctx: Ctx) -> Response:
    """POST ``job/X/buildWithParameters?A=b``; unknown names are ignored."""
    job = _job(ctx)
    if not job.buildable:
        raise Conflict(f"{job.full_name} is not buildable")
    if not job.param_defs:
        # core ParameterizedJobMixIn.doBuildWithParameters: errorWithoutStack(400, ...)
        raise HttpError(400, f"{job.full_name} is not parameterized")
    values = [_value(d, ctx.req.param(d.name)) for d in job.param_defs]
    return _schedule(ctx, job, ParametersAction(values))


def queue_api(ctx: Ctx) -> Response:
    """GET ``queue/api/json``: the pending items."""
    return api_json(ctx.req, ctx.app.queue)


def queue_item_api(ctx: Ctx) -> Response:
    """GET ``queue/item/N/api/json``."""
    return api_json(ctx.req, ctx.queue_item)


def cancel_queue_item(ctx: Ctx) -> Response:
    """POST ``queue/cancelItem?id=N``: 204 when cancelled, 404 otherwise."""
    raw = ctx.req.param("id") or ""
    item = ctx.app.queue.all_items.get(int(raw)) if raw.isdigit() else None
    if item is None or not item.pending:
        raise HttpError(404, f"Provided id ({raw}) not found")
    ctx.app.queue.cancel(item)
    return Response(204, b"", None)


def build_api(ctx: Ctx) -> Response:
    """GET ``job/X/N/api/json`` (or a permalink such as ``lastBuild``)."""
    return api_json(ctx.req, ctx.build)


def build_page(ctx: Ctx) -> Response:
    """GET ``job/X/N/``."""
    assert ctx.build is not None
    return html_page(f"{ctx.build.job.full_display_name} #{ctx.build.number}")


def submit_description(ctx: Ctx) -> Response:
    """POST ``job/X/N/submitDescription`` with ``description=``; 302 to the build."""
    assert ctx.build is not None
    ctx.build.description = ctx.req.param("description", "")
    return redirect(ctx.build.url)
