"""A tiny HTTP/1.1 server on a unix socket for the unit tests of pipeline/api: docker-py's
APIClient talks to it as to an engine at `unix://...`. Not an Engine double: it answers what
each test tells it (`routes`: (method, path without the /vX.Y prefix) -> handler of the
request seen) and records every request."""
import json
import os
import re
import socketserver
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    path: str              # without the API version prefix
    query: dict            # name -> [values]
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    """What a handler answers: a status and a body, JSON-able or bytes, or a function giving
    the chunks of a stream (sent chunked, each flushed as it comes)."""

    status: int = 200
    body: object = None
    content_type: str = "application/json"


def version_route(api="1.41"):
    return {("GET", "/version"): lambda seen: Reply(body={"ApiVersion": api, "Version": "x"})}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass   # quiet; and a unix socket's client address is no (host, port)

    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        path = re.sub(r"^/v[0-9.]+/", "/", url.path)
        seen = Seen(self.command, path, urllib.parse.parse_qs(url.query),
                    dict(self.headers.items()), body)
        self.server.seen.append(seen)
        handler = self.server.routes.get((self.command, path))
        self._send(handler(seen) if handler else Reply(404, {"message": f"no route {path}"}))

    do_GET = do_POST = do_DELETE = _any

    def _send(self, reply):
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if callable(reply.body):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in reply.body():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        body = reply.body
        if not isinstance(body, bytes):
            body = b"" if body is None else json.dumps(body).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass   # a client that hung up on purpose (timeouts, closed streams) is no failure


class Server:
    """`with Server(tmp_path, routes) as server:` serves on server.host (a DOCKER_HOST);
    `server.routes` may change meanwhile; `server.stop` is set when the block ends (for
    streams that wait for it)."""

    def __init__(self, directory, routes=None):
        path = os.path.join(str(directory), "engine.sock")
        self._server = _Unix(path, _Handler)
        self.host = f"unix://{path}"
        self.routes = self._server.routes = {**version_route(), **(routes or {})}
        self.seen = self._server.seen = []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()
