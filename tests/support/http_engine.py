"""A tiny HTTP/1.1 server on a unix socket (or loopback TCP) for the unit tests of the stdlib
Engine client (pipeline/api/http.py). Not an Engine double: it answers what each test tells
it (`routes`: (method, path) -> handler) and records every request, with the connection it
came on, so tests can check the bytes a client sends."""
import contextlib
import json
import os
import re
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    target: str            # path and query, as sent
    headers: dict
    body: bytes
    connection: int        # which connection it came on (1, 2, ...)

    @property
    def path(self):
        return self.target.split("?", 1)[0]


@dataclass
class Reply:
    """What a handler answers: status, JSON-able body (or bytes), and how to send it."""

    status: int = 200
    body: object = None
    chunked: bool = False
    content_type: str = "application/json"
    close: bool = False          # close the connection after the answer, without saying so
    delay: float = 0.0
    headers: dict = field(default_factory=dict)


def version_route(api="1.41"):
    return {("GET", "/version"): lambda seen: Reply(body={"ApiVersion": api, "Version": "x"})}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1
            self.number = self.server.connections

    def log_message(self, *args):
        pass   # quiet; and a unix socket's client address is no (host, port)

    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, dict(self.headers.items()), body, self.number)
        self.server.seen.append(seen)
        handler = self.server.routes.get((self.command, seen.path)) or self.server.fallback
        reply = handler(seen) if handler else Reply(404, {"message": f"no route {seen.path}"})
        if reply.delay:
            self.server.stop.wait(reply.delay)
        self._send(reply)

    do_GET = do_POST = do_DELETE = _any

    def _send(self, reply):
        body = reply.body
        if callable(body):          # a generator of chunks: a stream
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in body():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        if not isinstance(body, bytes):
            body = b"" if body is None else json.dumps(body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for at in range(0, len(body), 7):   # small chunks, split anywhere
                part = body[at:at + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.wfile.flush()
        if reply.close:
            self.close_connection = True


class _Quiet:
    def handle_error(self, request, client_address):
        pass   # a client that hung up on purpose (timeouts, closed streams) is no failure


class _Unix(_Quiet, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _TCP(_Quiet, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server:
    """`with Server(tmp_path, routes) as server:` serves on server.host (a DOCKER_HOST)."""

    def __init__(self, directory=None, routes=None, fallback=None, tcp=False, wrap=None):
        if tcp:
            self._server = _TCP(("127.0.0.1", 0), _Handler)
            self.host = f"tcp://127.0.0.1:{self._server.server_address[1]}"
        else:
            path = os.path.join(str(directory), "engine.sock")
            self._server = _Unix(path, _Handler)
            self.host = f"unix://{path}"
        if wrap is not None:   # TLS: wrap the listening socket
            self._server.socket = wrap(self._server.socket)
        server = self._server
        server.routes = {**version_route(), **(routes or {})}
        server.fallback = fallback
        server.seen, server.connections = [], 0
        server.lock, server.stop = threading.Lock(), threading.Event()
        self.seen, self.routes = server.seen, server.routes
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)

    @property
    def connections(self):
        return self._server.connections

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.stop.set()
        self._server.shutdown()
        self._server.server_close()


class RawServer:
    """`with RawServer(tmp_path, answers) as server:` on a unix socket (server.host) answers
    each request, on whichever connection it comes, with the next of `answers`: raw bytes
    as they should reach the client (malformed ones included), sent as they are; then the
    connection is closed if the answer is followed by None in the list, and left open
    otherwise. Counts connections; records each request's head (bytes)."""

    def __init__(self, directory, answers):
        self._answers, self.heads, self.connections = list(answers), [], 0
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(str(directory), "raw.sock")
        self._listener.bind(path)
        self._listener.listen()
        self.host = f"unix://{path}"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return   # closed: the test is over
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, contextlib.suppress(EOFError):
            buffered = b""
            while self._answers:
                while b"\r\n\r\n" not in buffered:
                    buffered += _received(conn)
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
                size = int(length.group(1)) if length else 0
                while len(buffered) < size:   # the body: read, not recorded
                    buffered += _received(conn)
                buffered = buffered[size:]
                # the answer and its None taken together: the thread of another connection,
                # answered just before, must not take this None for its own
                with self._lock:
                    answer = self._answers.pop(0)
                    close = bool(self._answers) and self._answers[0] is None
                    if close:
                        self._answers.pop(0)
                conn.sendall(answer)
                if close:
                    return
            while True:   # nothing more to say: keep the connection until the client goes
                _received(conn)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)   # wakes the accept (a close would not)
        except OSError:
            pass
        self._listener.close()


def _received(conn):
    data = conn.recv(65536)
    if not data:
        raise EOFError   # the client hung up
    return data
