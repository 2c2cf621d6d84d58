"""A webhook receiver on loopback for the notification tests: http.server in a thread on
127.0.0.1, a port the kernel picks, every POST kept (path, headers, JSON body). Each path
carries a random token, as a real webhook URL does, so a test can look for it in what shipway
wrote; `status` per path makes a webhook that answers 500.

    with Receiver() as hooks:
        url = hooks.url("json")            # http://127.0.0.1:PORT/hooks/json-<token>
        ... shipway deploy ...
        hooks.bodies("json")               # the JSON bodies posted there, in order
"""
import json
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.poll import poll_until


class Receiver:
    """The receiver; `answers[path] = 500` makes that path fail."""

    def __init__(self):
        self.posts = []            # (path, headers dict, body: parsed JSON or raw text)
        self.answers = {}          # path -> HTTP status (default 200)
        self._tokens = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):   # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                with receiver._lock:
                    receiver.posts.append((self.path, dict(self.headers), body))
                    status = receiver.answers.get(self.path, 200)
                answer = b"ok" if status == 200 else b"internal error"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def path(self, name):
        """The path of webhook `name`: /hooks/<name>-<random token>."""
        if name not in self._tokens:
            self._tokens[name] = f"/hooks/{name}-{secrets.token_hex(12)}"
        return self._tokens[name]

    def url(self, name):
        return f"http://127.0.0.1:{self.port}{self.path(name)}"

    def fail(self, name, status=500):
        """Webhook `name` answers `status` from now on."""
        self.answers[self.path(name)] = status

    def bodies(self, name):
        with self._lock:
            return [body for path, _, body in self.posts if path == self.path(name)]

    def events(self, name):
        """The `event` of each JSON body posted to `name`."""
        return [body["event"] for body in self.bodies(name)]

    def wait_for(self, name, count, timeout=10):
        """The bodies posted to `name` once there are `count` of them."""
        return poll_until(lambda: len(self.bodies(name)) >= count and self.bodies(name),
                          timeout, f"{count} posts to webhook {name}")

    def tokens(self):
        """Every secret part of the URLs handed out (for the leak checks)."""
        return [path.rsplit("-", 1)[1] for path in self._tokens.values()]


def closed_port():
    """A loopback port nothing listens on (bound, then closed: connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
