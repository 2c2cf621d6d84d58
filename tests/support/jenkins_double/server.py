"""HTTP plumbing: parse requests, run the filter chain, write responses.

The order of checks mirrors Jenkins' servlet filters: (injected faults, which
stand for the network/proxy in front of Jenkins) -> authentication ->
CrumbFilter -> Stapler routing (404/405) -> object resolution -> permission
-> handler.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from .context import App
from .errors import HttpError
from .faults import Fault, RequestRecord
from .routes import dispatch
from .security import CRUMB_FIELD
from .web import Request, Response, error_response

if TYPE_CHECKING:
    from .double import JenkinsDouble

log = logging.getLogger(__name__)
FORM_TYPE = "application/x-www-form-urlencoded"


def process(app: App, method: str, target: str, headers: dict[str, str],
            body: bytes) -> Response:
    """Run one request through auth, crumb check and routing."""
    split = urlsplit(target)
    params = parse_qs(split.query, keep_blank_values=True)
    if (headers.get("content-type") or "").startswith(FORM_TYPE):
        # Servlet getParameter order: query string values come first.
        for key, values in parse_qs(body.decode("utf-8", "replace"),
                                    keep_blank_values=True).items():
            params.setdefault(key, []).extend(values)
    security = app.security
    try:
        # One lock for all state (sessions included): requests are serialised,
        # builds run outside it on executor threads.
        with app.root.lock:
            app.root.serving(headers.get("host"), headers.get("x-forwarded-host"),
                             headers.get("x-forwarded-proto"))
            user = security.authenticate(headers.get("authorization"))
            req = Request(method, unquote(split.path).lstrip("/"), params, headers,
                          body, user, security.session_of(headers.get("cookie")))
            if security.needs_crumb(method, user):
                security.check_crumb(user, req.session,
                                     req.header(CRUMB_FIELD) or req.param(CRUMB_FIELD))
            return dispatch(app, req)
    except HttpError as error:
        return error_response(error)
    finally:
        app.root.serving(None)


class JenkinsHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying a reference to its double."""

    daemon_threads = True
    # restart() binds the same port again while old connections sit in TIME_WAIT.
    allow_reuse_address = True
    # The default backlog of 5 stalls parallel clients (shipway jobs --workers 16) for ~1 s.
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], double: "JenkinsDouble") -> None:
        self.double = double
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, JenkinsRequestHandler)

    def process_request_thread(self, request, client_address) -> None:
        """Track live connections so stop() can cut keep-alive clients off."""
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        """Shut down every open client connection."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer


class JenkinsRequestHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler answering like Jetty in front of Jenkins."""

    protocol_version = "HTTP/1.1"
    server_version = "Jetty(10.0.20)"
    sys_version = ""
    server: JenkinsHTTPServer

    def setup(self) -> None:
        """Disable Nagle: headers and body go out as two writes, and Nagle plus
        the client's delayed ACK would add ~40 ms to every keep-alive request."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        """Serve GET."""
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        """Send http.server's access log to logging instead of stderr."""
        log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self) -> None:
        double = self.server.double
        body = self._read_body()
        fault = double.faults.take(self.command, self.path)
        if fault is not None and not fault.after:
            self._apply_fault(fault)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = process(double.app, self.command, self.path, headers, body)
        if fault is not None:
            self._apply_fault(fault)
            return
        # Log before answering: a client that got its answer must find it logged.
        double.log.append(RequestRecord(self.command, self.path, response.status))
        self._send(response)

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _apply_fault(self, fault: Fault) -> None:
        double = self.server.double
        if fault.reset:
            double.log.append(RequestRecord(self.command, self.path, None))
            self.close_connection = True
            # No status line at all; SO_LINGER 0 makes the final close() abort
            # the connection, so clients get a connection error, never a response.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            return
        response = error_response(HttpError(fault.status, "Injected fault"))
        double.log.append(RequestRecord(self.command, self.path, fault.status))
        self._send(response)

    def _send(self, response: Response) -> None:
        double = self.server.double
        self.send_response(response.status)
        self.send_header("X-Jenkins", double.version)
        self.send_header("X-Hudson", "1.395")
        self.send_header("X-Jenkins-Session", double.session_id)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        no_body = response.status in (204, 304) or self.command == "HEAD"
        if response.status != 204:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not no_body:
            self.wfile.write(response.body)


def make_server(host: str, port: int, double: "JenkinsDouble") -> JenkinsHTTPServer:
    """Bind a server for ``double`` (port 0 picks a free port)."""
    return JenkinsHTTPServer((host, port), double)


def shutdown(server: Optional[JenkinsHTTPServer]) -> None:
    """Stop serving and close the listening socket."""
    if server is not None:
        server.shutdown()
        server.server_close()
        server.close_connections()
