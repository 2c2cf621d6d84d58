"""Request/response value types and the response builders handlers use."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import HttpError
from .exported import TreeSyntaxError, render

JSON_TYPE = "application/json;charset=utf-8"
HTML_TYPE = "text/html;charset=utf-8"
TEXT_TYPE = "text/plain;charset=utf-8"
XML_TYPE = "application/xml;charset=utf-8"


@dataclass
class Request:
    """A parsed HTTP request.

    ``path`` is percent-decoded and has no leading slash or query;
    ``params`` holds query parameters first, then urlencoded form fields
    (the servlet ``getParameter`` order: the first value wins).
    """

    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    user: str = "anonymous"
    session: Optional[str] = None

    def param(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """First value of a query/form parameter."""
        values = self.params.get(name)
        return values[0] if values else default

    def header(self, name: str) -> Optional[str]:
        """A request header, case-insensitively."""
        return self.headers.get(name.lower())


@dataclass
class Response:
    """An HTTP response; ``headers`` may repeat names."""

    status: int = 200
    body: bytes = b""
    content_type: Optional[str] = HTML_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)


def api_json(request: Request, obj: Any) -> Response:
    """``/api/json`` for ``obj`` honouring ``tree``, ``depth`` and ``pretty``."""
    tree = request.param("tree")
    try:
        depth = int(request.param("depth") or 0)
    except ValueError:
        raise HttpError(400, "depth must be an integer") from None
    try:
        data = render(obj, depth=depth, tree=tree)
    except TreeSyntaxError as exc:
        # Stapler wraps the parser's IllegalArgumentException in a ServletException.
        raise HttpError(500, f"Malformed tree expression: {exc}") from None
    return json_response(data, pretty=request.param("pretty") == "true")


def json_response(data: Any, pretty: bool = False, status: int = 200) -> Response:
    """Compact JSON like Jenkins (``{"a":1}``), or indented with pretty=true."""
    if pretty:
        text = json.dumps(data, indent=2, ensure_ascii=False)
    else:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return Response(status, text.encode("utf-8"), JSON_TYPE)


def text_response(text: str, content_type: str = TEXT_TYPE,
                  status: int = 200) -> Response:
    """A UTF-8 text body."""
    return Response(status, text.encode("utf-8"), content_type)


def html_page(title: str, body: str = "", status: int = 200) -> Response:
    """A minimal Jenkins-looking HTML page."""
    page = (f"<!DOCTYPE html><html><head><title>{html.escape(title)} [Jenkins]"
            f"</title></head><body><h1>{html.escape(title)}</h1>{body}"
            "</body></html>")
    return text_response(page, HTML_TYPE, status)


def redirect(location: str, status: int = 302) -> Response:
    """A redirect; ``location`` must be absolute (Jetty makes it so)."""
    return Response(status, b"", None, [("Location", location)])


def error_response(error: HttpError) -> Response:
    """Render an HttpError the way Jenkins renders that kind of failure."""
    body = f"<p>{html.escape(error.message)}</p>"
    if error.detail:
        body += f"<pre>{html.escape(error.detail)}</pre>"
    title = "Oops!" if error.status == 500 else f"Error {error.status}"
    response = html_page(title, body, error.status)
    response.headers.extend(error.headers.items())
    return response
