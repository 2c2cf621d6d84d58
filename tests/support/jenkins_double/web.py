"""Request/response value types and the response builders handlers use."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import HttpError
from .exported import TreeSyntaxError, render

JSON_TYPE = "application/json;charset=utf-8"
HTML_TYPE = "text/html;charset=utf-8"
TEXT_TYPE = "text/plain;charset=utf-8"
XML_TYPE = "application/xml;charset=utf-8"
PYTHON_TYPE = "text/x-python;charset=UTF-8"   # stapler export/Flavor.java PYTHON


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
    """``/api/json`` (or ``api/python``, ``api/xml``: the flavour is the path's last part)
    for ``obj`` honouring ``tree``, ``depth`` and ``pretty``."""
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
    if request.path.endswith("api/python"):
        return Response(200, python_literal(data).encode("utf-8"), PYTHON_TYPE)
    if request.path.endswith("api/xml"):
        return Response(200, xml_document(data).encode("utf-8"), XML_TYPE)
    return json_response(data, pretty=request.param("pretty") == "true")


def python_literal(data: Any) -> str:
    """Stapler's PythonDataWriter: JSON with True/False/None (stapler export/
    PythonDataWriter.java overrides valuePrimitive and valueNull of JSONDataWriter)."""
    if data is None:
        return "None"
    if data is True or data is False:
        return "True" if data else "False"
    if isinstance(data, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{python_literal(v)}"
                              for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ",".join(python_literal(v) for v in data) + "]"
    return json.dumps(data, ensure_ascii=False)


def xml_document(data: dict) -> str:
    """Stapler's XMLDataWriter: the root element is the class's decapitalised simple name,
    ``_class='...'`` on objects, an array as the element repeated under its singular name
    ("jobs" -> <job>, "properties" -> <property>), null as absence (stapler export/
    XMLDataWriter.java)."""
    simple = re.split(r"[.$]", data.get("_class", "object"))[-1]
    return _xml_element(simple[:1].lower() + simple[1:], data)


def _xml_element(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        singular = re.sub(r"s$", "", re.sub(r"ies$", "y", name))
        return "".join(_xml_element(singular, v) for v in value)
    if isinstance(value, dict):
        cls = value.get("_class")
        head = f"<{name} _class='{cls}'>" if cls else f"<{name}>"
        inner = "".join(_xml_element(k, v) for k, v in value.items() if k != "_class")
        return f"{head}{inner}</{name}>"
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"<{name}>{html.escape(text, quote=False)}</{name}>"


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
