"""A small Engine API client on the standard library, for the swarm commands.

Why: the swarm commands (deploy, rollback, status, remove, unlock, releases) treat every
Engine object as a raw API document, so docker-py is only their HTTP transport, and importing
it (requests, urllib3, charset_normalizer, idna, certifi) costs more than the rest of a
deploy's start. This client speaks HTTP/1.1 to the Engine on `socket` (the wire format is
pipeline/api/wire.py's: `http.client` alone costs ~30 ms to import, with email and ssl; `ssl`
is imported only for a TLS host) and honours what `docker.DockerClient.from_env` honours for
them: DOCKER_HOST `unix://` (default /var/run/docker.sock), `tcp://`, `http(s)://`,
DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, and the API version the engine names in GET /version
(docker-py's version="auto"). `open_client` returns None for what it cannot do (`ssh://`):
the caller falls back to docker-py (pipeline/api/sdk.py).

The shape, shared with pipeline/api/sdk.py's adapter of docker-py's APIClient, so that
pipeline/api/engine.py and logs.py have one code path:
- the public docker-py method names the swarm code calls (inspect_service, tasks, nodes,
  create_config, logs, wait, inspect_distribution, ...), returning the same documents
  (pipeline/api/calls.py);
- generic calls for the rest: get, get_bytes, post_json, delete and stream, each taking a
  path format and its arguments, quoted as docker-py's `_url` quotes them.
Query parameters are encoded as requests encodes them (None dropped, lists repeated) and
filters as docker-py does (JSON); JSON bodies lose their top-level None values as docker-py's
`_post_json` does, so the engine receives the same bytes.

Errors: HTTPStatusError (the engine answered >= 400; `explanation` is the JSON body's
"message", docker-py's `explanation`), ConnectionFailed and TimedOutError. They are plain
exceptions; pipeline/api/errors.py translates them as it translates docker-py's.

Threads: a deploy calls the engine from several threads (pipeline/background.py, the lock's
renewal, the log follower, waits on old containers); each thread gets its own keep-alive
connection (threading.local), and a stream gets a connection of its own.
"""
import json
import os
import select
import socket
import threading
import urllib.parse

from pipeline.api import wire
from pipeline.api.calls import EngineCalls

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT = object()   # "the client's timeout" (a timeout of None means none at all)


class HTTPStatusError(Exception):
    """The engine answered with an error status; str() reads as docker-py's APIError."""

    def __init__(self, status_code, reason, url, body):
        self.status_code, self.reason, self.url = status_code, reason, url
        self.explanation = explanation_of(body)
        kind = "Client" if status_code < 500 else "Server"
        text = f"{status_code} {kind} Error for {url}: {reason}"
        super().__init__(text + (f' ("{self.explanation}")' if self.explanation else ""))


class ConnectionFailed(Exception):
    """No connection to the engine, or it broke (the OSError is the __cause__)."""


class TimedOutError(Exception):
    """The engine did not answer within the request's timeout."""


def explanation_of(body):
    """The engine's message in an error body: its JSON "message", else the text."""
    try:
        message = json.loads(body).get("message")
        if isinstance(message, str):
            return message
    except (ValueError, AttributeError):
        pass
    return body.decode("utf-8", "replace").strip()


def quote_path(pathfmt, args):
    """`pathfmt` with its arguments quoted as docker-py's `_url` does (safe="/:")."""
    for arg in args:
        if not isinstance(arg, str):
            raise ValueError(f"Expected a string but found {arg} ({type(arg)}) instead")
    return pathfmt.format(*(urllib.parse.quote(a, safe="/:") for a in args))


def encode_params(params):
    """A query string as requests makes it from a dict: None values dropped, lists repeated."""
    pairs = [(k, v) for k, v in (params or {}).items() if v is not None]
    return urllib.parse.urlencode(pairs, doseq=True)


def parse_host(environ):
    """(kind, address, tls) for DOCKER_HOST and the TLS variables, as docker-py's
    kwargs_from_env and parse_host read them: ("unix", path, None) or ("tcp", (host, port),
    tls settings or None); None for a scheme this client does not speak (ssh://, npipe://).
    Raises ValueError, with docker-py's words, for an address it would refuse."""
    host = (environ.get("DOCKER_HOST") or "").strip()
    cert_path = environ.get("DOCKER_CERT_PATH") or None   # empty means unset
    verify = environ.get("DOCKER_TLS_VERIFY")
    verify = False if verify == "" else verify is not None  # any value, even "0": verify
    tls = None
    if cert_path or verify:
        cert_path = cert_path or os.path.join(os.path.expanduser("~"), ".docker")
        tls = {"dir": cert_path, "verify": verify}
    if not host or host == "unix://":
        return "unix", DEFAULT_SOCKET, None
    parsed = urllib.parse.urlsplit(host)
    scheme = parsed.scheme
    if not scheme or any(c not in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+"
                         for c in scheme):
        parsed, scheme = urllib.parse.urlsplit("//" + host, "tcp"), "tcp"
    if scheme in ("ssh", "npipe"):
        return None
    if scheme in ("http", "https"):
        # https:// without the TLS variables: requests' default, the system's CAs
        tls = tls or ({"dir": None, "verify": True} if scheme == "https" else None)
        scheme = "tcp"
    elif scheme == "http+unix":
        scheme = "unix"
    if scheme == "fd":
        raise ValueError("fd protocol is not implemented")
    if scheme not in ("tcp", "unix"):
        raise ValueError(f"Invalid bind address protocol: {host}")
    if parsed.query or parsed.fragment or parsed.password:
        raise ValueError(f"Invalid bind address format: {host}")
    if scheme == "unix":
        path = parsed.path if parsed.hostname is None else f"{parsed.hostname}/{parsed.path}"
        return "unix", path.rstrip("/") or DEFAULT_SOCKET, None
    if not parsed.netloc:
        raise ValueError(f"Invalid bind address format: {host}")
    if not parsed.port:
        raise ValueError(f"Invalid bind address format: port is required: {host}")
    return "tcp", (parsed.hostname or "127.0.0.1", parsed.port), tls


def _ssl_context(tls):
    """The TLS context docker-py's TLSConfig makes: client cert.pem/key.pem from the cert
    dir, and the engine's certificate checked against ca.pem only when verifying."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls["verify"]:
        ca = os.path.join(tls["dir"], "ca.pem") if tls["dir"] else None
        if ca and not os.path.isfile(ca):
            raise ValueError(f"no CA certificate {ca}")
        if ca:
            context.load_verify_locations(ca)
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls["dir"]:
        cert, key = (os.path.join(tls["dir"], n) for n in ("cert.pem", "key.pem"))
        if not (os.path.isfile(cert) and os.path.isfile(key)):
            raise ValueError(f"no client certificate cert.pem and key.pem in {tls['dir']}")
        context.load_cert_chain(cert, key)
    return context


class _Connection:
    """One connection to the engine: its socket (None until connected, and once closed)
    and the bytes read from it (wire.Source)."""

    def __init__(self, client):
        self._client, self.sock, self.source = client, None, None

    def connect(self, timeout):
        self.sock = self._client._socket(timeout)
        self.source = wire.Source(self.sock.recv)

    def exchange(self, method, target, headers=None, body=None):
        """Send one request, and read the response's status and headers (wire.Response)."""
        self.sock.sendall(wire.request_bytes(method, target, self._client.host_header,
                                             headers, body))
        return wire.Response(self.source, method)

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = self.source = None


class Stream:
    """A streamed response (logs, events) on a connection of its own. Iterate `frames()`
    for a multiplexed stream's payloads, `lines()` for a line stream; `shutdown()` from any
    thread wakes a reader blocked in recv (a close from another thread would not) and ends
    its iteration quietly."""

    def __init__(self, connection, response):
        self._connection, self._response = connection, response
        self.content_type = response.headers.get("Content-Type", "")
        self._shut = False

    def _read(self, read, *args):
        try:
            return read(*args)
        except Exception as exc:
            if self._shut:
                return b""   # what our own shutdown() did to the read: the end, no failure
            _raise_transport(exc)

    def frames(self):
        """The payloads of a multiplexed (non-TTY) stream, frame by frame, until it ends
        (a frame's 8-byte header and its payload may span chunks)."""
        while True:
            header = self._read(self._response.read, 8)
            if len(header) < 8:
                return
            size = int.from_bytes(header[4:8], "big")
            if size:
                data = self._read(self._response.read, size)
                if not data:
                    return
                yield data

    def lines(self):
        """The lines (bytes, newline kept) of a line stream, until it ends."""
        while True:
            line = self._read(self._response.readline)
            if not line:
                return
            yield line

    def shutdown(self):
        """End the stream now, from any thread."""
        self._shut = True
        sock = self._connection.sock
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)   # not ssl's unwrap
            except OSError:
                pass   # already closed by the other side

    def close(self):
        """Release the connection (the reading thread's job)."""
        self._connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client(EngineCalls):
    """The Engine API over HTTP/1.1: one keep-alive connection per thread."""

    def __init__(self, kind, address, tls=None, timeout=60, version=None):
        self.kind, self.address, self.timeout = kind, address, timeout
        self._ssl = _ssl_context(tls) if tls else None
        self.base_url = ("http+docker://localhost" if kind == "unix" else
                         f"http{'s' if tls else ''}://{address[0]}:{address[1]}")
        # What http.client sent: docker-py's "localhost" on a unix socket; host:port on tcp,
        # the port left out when it is the scheme's default
        self.host_header = ("localhost" if kind == "unix" else
                            wire.host_header(*address, 443 if tls else 80))
        self._local = threading.local()
        self.api_version = version

    def negotiate(self):
        """Use the API version the engine names (GET /version, as docker-py's "auto")."""
        found = self.get("/version", versioned=False)
        self.api_version = found["ApiVersion"]
        return found

    def _socket(self, timeout):
        """A socket connected to the engine (TLS wrapped for a TLS host), `timeout` set."""
        if self.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(self.address)
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection(self.address, timeout)
        try:
            # As http.client does: a request is one write, and its answer should not wait
            # for the delayed ACK of the last one
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self.address[0])
        except BaseException:
            sock.close()
            raise
        return sock

    def _connection(self, timeout):
        """This thread's connection, connected; a new one if the engine closed it."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _Connection(self)
        elif conn.sock is not None and (conn.source.pending() or _dropped(conn.sock)):
            # the engine closed it while idle, or sent more than its last answer: reconnect,
            # as urllib3 does
            conn.close()
        if conn.sock is None:
            _opened(conn, timeout)
        conn.sock.settimeout(timeout)
        return conn

    def request(self, method, path, args=(), params=None, body=None, headers=None,
                timeout=DEFAULT, versioned=True):
        """(status, body bytes, Content-Type) of one call; raises HTTPStatusError for a
        status >= 400 and ConnectionFailed / TimedOutError when the engine does not answer."""
        timeout = self.timeout if timeout is DEFAULT else timeout
        url, headers = self._target(path, args, params, versioned), dict(headers or {})
        conn = self._connection(timeout)
        try:
            response = conn.exchange(method, url, headers, body)
            data = response.read()
        except BaseException as exc:
            conn.close()   # a request half done leaves the connection unusable
            _raise_transport(exc)
        if response.will_close:
            conn.close()   # Connection: close, HTTP/1.0, a body to the end: the next reconnects
        if response.status >= 400:
            raise HTTPStatusError(response.status, response.reason, self.base_url + url, data)
        return response.status, data, response.headers.get("Content-Type", "")

    def _target(self, path, args, params, versioned):
        url = quote_path(path, args)
        if versioned and self.api_version:
            url = f"/v{self.api_version}{url}"
        query = encode_params(params)
        return f"{url}?{query}" if query else url

    # --- the generic calls (also offered by sdk.SDKEngine) ----------------------------------

    def get(self, path, *args, params=None, headers=None, timeout=DEFAULT, versioned=True):
        """GET: the JSON document."""
        return json.loads(self.request("GET", path, args, params, headers=headers,
                                       timeout=timeout, versioned=versioned)[1])

    def get_bytes(self, path, *args, params=None, timeout=DEFAULT):
        """GET: the body as bytes (logs)."""
        return self.request("GET", path, args, params, timeout=timeout)[1]

    def post_json(self, path, *args, data=None, params=None, headers=None, timeout=DEFAULT):
        """POST a JSON body (top-level None values dropped, as docker-py's `_post_json`
        does): the JSON answer, None when the engine sends no body."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None}
        body = json.dumps({} if data is None else data).encode("utf-8")
        headers = {**(headers or {}), "Content-Type": "application/json"}
        answer = self.request("POST", path, args, params, body, headers, timeout)[1]
        return json.loads(answer) if answer.strip() else None

    def post(self, path, *args, params=None, timeout=DEFAULT):
        """POST without a body: the JSON answer, None when there is none."""
        answer = self.request("POST", path, args, params, timeout=timeout)[1]
        return json.loads(answer) if answer.strip() else None

    def delete(self, path, *args, params=None):
        """DELETE."""
        self.request("DELETE", path, args, params)

    def stream(self, path, *args, params=None):
        """GET a streamed response (no read timeout) on a connection of its own: a Stream,
        the status checked (HTTPStatusError)."""
        url = self._target(path, args, params, True)
        conn = _Connection(self)
        try:
            _opened(conn, self.timeout)
            conn.sock.settimeout(None)   # a quiet service prints nothing for long
            response = conn.exchange("GET", url)
            data = response.read() if response.status >= 400 else None
        except BaseException as exc:
            conn.close()
            _raise_transport(exc)
        if data is not None:
            conn.close()
            raise HTTPStatusError(response.status, response.reason, self.base_url + url, data)
        return Stream(conn, response)

    def close(self):
        """Close this thread's connection (the others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


def _opened(conn, timeout):
    """Connect `conn`; any failure is a ConnectionFailed (requests calls a connect timeout
    a ConnectionError too)."""
    try:
        conn.connect(timeout)
    except OSError as exc:
        conn.close()
        raise ConnectionFailed(exc.strerror or str(exc) or type(exc).__name__) from exc


def _dropped(sock):
    """True when an idle keep-alive socket is readable: the engine closed it (EOF), or sent
    something unasked; either way it cannot carry the next request."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _raise_transport(exc):
    if isinstance(exc, (ConnectionFailed, HTTPStatusError)):
        raise exc
    if isinstance(exc, TimeoutError):
        raise TimedOutError(f"Read timed out: {exc}") from exc
    if isinstance(exc, (OSError, wire.ProtocolError)):
        text = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        raise ConnectionFailed(f"Connection aborted: {text}") from exc
    raise exc


def open_client(environ, timeout):
    """A Client for DOCKER_HOST and the TLS variables, its API version negotiated (the one
    call also proves the engine answers); None for a host it cannot speak to (ssh://).
    Raises ValueError for a bad address or certificate, ConnectionFailed / TimedOutError /
    HTTPStatusError when the engine does not answer /version."""
    found = parse_host(environ)
    if found is None:
        return None
    client = Client(*found, timeout=timeout)
    try:
        client.negotiate()
    except KeyError:
        raise ValueError('Invalid response from docker daemon: key "ApiVersion" is missing.') \
            from None
    return client
