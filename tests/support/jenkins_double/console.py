"""Route handlers for a build's log: ``consoleText`` and ``logText/progressive{Text,Html}``.

``logText`` is core ``Run#getLogText``: an ``AnnotatedLargeText`` over the log file,
complete once the build has stopped running. Its ``doProgressiveText`` and
``doProgressiveHtml`` are Stapler's ``LargeText.doProgressText`` as Jenkins 2.440 ships it
(stapler framework/io/LargeText.java, LineEndNormalizingWriter.java):

* ``start`` goes through ``Long.parseLong``: anything else (empty, ``1.5``, past a long)
  is an uncaught NumberFormatException, 500. A negative one fails the log file's seek,
  500. One past the end means the log rolled over: everything is sent from 0.
* While the build runs only whole lines are sent (a line ends at CR or LF, at most
  10,000 lines a request) and ``X-Text-Size`` is the offset after the last one sent, so
  a half-written line comes whole next time. Once complete, the rest is sent.
  ``X-More-Data: true`` is there while the build runs and absent once it is complete.
* The body is written through ``LineEndNormalizingWriter``: an LF not preceded by CR
  goes out as CRLF. ``X-Text-Size`` counts the log's own bytes, not the body's.
* ``progressiveHtml`` escapes ``& < >`` (``MarkupText.toString(true)`` ->
  ``Util.xmlEscape``), is ``text/html`` and returns ``X-ConsoleAnnotator``, an opaque
  (in Jenkins, encrypted) state the browser sends back with its next request.

Neither web method names an HTTP verb, so Stapler serves them for any: the node
``jenkins`` client POSTs ``start`` as a form field.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
from typing import Optional

from .context import Ctx
from .errors import ServerError
from .jobs import Build
from .web import Response, text_response

TEXT_TYPE = "text/plain;charset=UTF-8"  # AnnotatedLargeText.setContentType
HTML_TYPE = "text/html;charset=UTF-8"
MAX_LINES_READ = 10_000  # LargeText.MAX_LINES_READ
_LONG = re.compile(r"[+-]?[0-9]+")
_LINE_END = re.compile(rb"[\r\n]")


def parse_start(raw: Optional[str]) -> int:
    """``start`` as ``Long.parseLong`` reads it (0 when absent), else the 500 Jenkins sends."""
    if raw is None:
        return 0
    if not _LONG.fullmatch(raw) or not -(2 ** 63) <= int(raw) < 2 ** 63:
        raise ServerError(f'java.lang.NumberFormatException: For input string: "{raw}"')
    return int(raw)


def progressive_slice(log: bytes, start: int, completed: bool) -> tuple[bytes, int]:
    """What ``LargeText.writeLogTo(start, ...)`` sends of ``log``, and ``X-Text-Size``."""
    if start > len(log):
        start = 0  # "text rolled over"
    if start < 0:
        # FileSession.skip: RandomAccessFile.seek(negative)
        raise ServerError("java.io.IOException: Negative seek offset")
    rest = log[start:]
    if not completed:
        ends = [found.end() for found in _LINE_END.finditer(rest)][:MAX_LINES_READ]
        rest = rest[:ends[-1]] if ends else b""
    return rest, start + len(rest)


def crlf(text: str) -> str:
    """``LineEndNormalizingWriter``: every LF not preceded by CR becomes CRLF."""
    return re.sub(r"(?<!\r)\n", "\r\n", text)


def _progressive(ctx: Ctx, as_html: bool) -> Response:
    build = ctx.build
    assert isinstance(build, Build)
    start = parse_start(ctx.req.param("start"))
    sent, size = progressive_slice(build.console.encode("utf-8"), start, not build.building)
    text = sent.decode("utf-8", "replace")
    if as_html:
        text = html.escape(text, quote=False)
    response = Response(200, crlf(text).encode("utf-8"), HTML_TYPE if as_html else TEXT_TYPE,
                        [("X-Text-Size", str(size))])
    if build.building:
        response.headers.append(("X-More-Data", "true"))
    if as_html:
        response.headers.append(("X-ConsoleAnnotator",
                                 base64.b64encode(secrets.token_bytes(48)).decode()))
    return response


def progressive_text(ctx: Ctx) -> Response:
    """Any verb on ``job/X/N/logText/progressiveText?start=B``: the log from byte B on
    as plain text, with ``X-Text-Size`` (where to start next) and, while the build runs,
    ``X-More-Data: true``."""
    return _progressive(ctx, as_html=False)


def progressive_html(ctx: Ctx) -> Response:
    """Any verb on ``job/X/N/logText/progressiveHtml?start=B``: as progressiveText,
    HTML-escaped, with an ``X-ConsoleAnnotator`` state."""
    return _progressive(ctx, as_html=True)


def console_text(ctx: Ctx) -> Response:
    """GET ``job/X/N/consoleText``: the log so far, as plain text."""
    assert ctx.build is not None
    return text_response(ctx.build.console)
