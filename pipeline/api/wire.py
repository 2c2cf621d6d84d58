"""HTTP/1.1 on the wire for pipeline/api/http.py: a request's bytes, and a response read
from a byte source (RFC 9112).

Why not `http.client`: importing it costs ~30 ms (it imports email.parser, email.message and
ssl), more than the rest of a swarm command's start; the Engine client needs only this much.

Pure: `Source` reads from any `recv(n)` callable (a socket's, or a list of pieces in the
unit tests), so the reader is tested without a server. What it accepts:
- a status line `HTTP/1.x NNN reason` (1.0 and 1.1); interim 1xx answers (100 Continue,
  102, 103) before the final one are skipped (RFC 9110 15.2: a client must parse them and
  may ignore the ones it did not expect; 101 would be final, and is never asked for);
- header fields, looked up case-insensitively, repeated ones joined with ", ", obsolete
  line folding unfolded (RFC 9112 5.2);
- a body framed by Transfer-Encoding chunked (extensions and trailers read and ignored), by
  Content-Length, or by the connection's end; none for HEAD, 204, 304 and 1xx (RFC 9112 6.3).
Anything else, and a connection that ends inside a response, is a ProtocolError.
"""

MAX_LINE = 65536          # a status, header, chunk-size or trailer line (http.client's too)
MAX_HEADERS = 100         # header (or trailer) fields in one response (http.client's too)
RECV = 65536              # bytes asked of recv at a time


class ProtocolError(Exception):
    """The peer's bytes are not an HTTP/1.x response, or it ended one early."""


def host_header(host, port, default_port):
    """The Host value http.client sends for (host, port): the port left out when it is the
    scheme's default, an IPv6 address in brackets."""
    name = f"[{host}]" if ":" in host else host
    return name if port == default_port else f"{name}:{port}"


def request_bytes(method, target, host, headers=None, body=None):
    """The bytes of one request, as http.client writes them: the request line, Host and
    `Accept-Encoding: identity` (unless `headers` has them), Content-Length (the body's, or 0
    for a POST, PUT or PATCH without one), then `headers` in their order (values str, bytes
    or int), then `body` (bytes or None). Raises ValueError for a method, target or header
    that would break the request's framing (control characters, CR or LF)."""
    headers = headers or {}
    for text in (method, target):
        if not text or any(c <= " " or c == "\x7f" for c in text):
            raise ValueError(f"invalid request line part {text!r}")
    names = {name.lower() for name in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host}")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")   # shipway decodes no content coding
    if "content-length" not in names and "transfer-encoding" not in names:
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif method.upper() in ("PATCH", "POST", "PUT"):
            lines.append("Content-Length: 0")
    for name, value in headers.items():
        value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if not name or any(c in name for c in ": \t\r\n") or any(c in value for c in "\r\n\0"):
            raise ValueError(f"invalid header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


class Source:
    """Buffered bytes from `recv(n)` (b"" at the end), read by line or by piece."""

    def __init__(self, recv):
        self._recv, self._buf = recv, bytearray()

    def pending(self):
        """How many bytes are buffered, read from the peer but not by a response."""
        return len(self._buf)

    def readline(self):
        """One line, b"\\n" kept; what is left (maybe b"") when the peer ends first.
        Raises ProtocolError for a line longer than MAX_LINE."""
        start = 0
        while True:
            at = self._buf.find(b"\n", start)
            if at >= 0:
                return self._take(at + 1)
            if len(self._buf) > MAX_LINE:
                raise ProtocolError("a line longer than 65536 bytes")
            start = len(self._buf)
            data = self._recv(RECV)
            if not data:
                return self._take(len(self._buf))
            self._buf += data

    def read_some(self, limit):
        """Up to `limit` bytes: what is buffered, else one recv's worth; b"" at the end."""
        if not self._buf:
            data = self._recv(RECV)
            if len(data) <= limit:
                return data
            self._buf += data
        return self._take(min(limit, len(self._buf)))

    def _take(self, n):
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data


class Headers:
    """Header fields by name, case-insensitively; a repeated field's values joined by ", "."""

    def __init__(self, fields=()):
        self._fields = {}
        for name, value in fields:
            key = name.lower()
            self._fields[key] = f"{self._fields[key]}, {value}" if key in self._fields else value

    def get(self, name, default=None):
        """The field's value, `default` when it is absent."""
        return self._fields.get(name.lower(), default)

    def tokens(self, name):
        """A list-valued field's elements, lower-cased ("Connection: Keep-Alive, x")."""
        return [t.strip().lower() for t in self.get(name, "").split(",") if t.strip()]

    def __contains__(self, name):
        return name.lower() in self._fields


def _line(source, what):
    line = source.readline()
    if not line.endswith(b"\n"):
        raise ProtocolError(f"the connection ended in the {what}" if line else
                            f"the connection ended before the {what}")
    return line.rstrip(b"\r\n").decode("latin-1")


def _status_line(source):
    line = _line(source, "status line")
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if (not version.startswith("HTTP/1.") or not version[7:].isdigit()
            or len(code) != 3 or not code.isdigit() or code[0] == "0"):
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    return (10 if version == "HTTP/1.0" else 11), int(code), reason.strip()


def read_fields(source, what="headers"):
    """Header (or trailer) fields up to the empty line, as (name, value) pairs."""
    fields = []
    while True:
        line = _line(source, what)
        if not line:
            return fields
        if line[0] in " \t" and fields:   # obsolete line folding: one value, spaced
            fields[-1] = (fields[-1][0], f"{fields[-1][1]} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ProtocolError(f"not a header field: {line[:80]!r}")
        fields.append((name, value.strip()))
        if len(fields) > MAX_HEADERS:
            raise ProtocolError(f"more than {MAX_HEADERS} {what}")


def _content_length(value):
    # "5, 5" (a field repeated with one value) is one length; anything else is no framing
    # a client can trust (RFC 9112 6.3, point 5).
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise ProtocolError(f"invalid Content-Length {value!r}")
    return int(values.pop())


class Response:
    """One response read from `source` for a request of `method`: `status`, `reason`,
    `version` (10 or 11), `headers`, `will_close` (the connection cannot carry another
    request), and its body read with read(), readline() or all at once."""

    def __init__(self, source, method):
        self._source = source
        while True:
            self.version, self.status, self.reason = _status_line(source)
            self.headers = Headers(read_fields(source))
            if not (100 <= self.status < 200) or self.status == 101:
                break   # interim answers say nothing to this client (101 is no interim one)
        connection = self.headers.tokens("Connection")
        if self.version == 11:
            self.will_close = "close" in connection
        else:   # HTTP/1.0 closes unless it says keep-alive (as http.client reads it)
            self.will_close = "keep-alive" not in connection and "Keep-Alive" not in self.headers
        codings = self.headers.tokens("Transfer-Encoding")
        self._left = None   # bytes left in the body (length) or in the chunk (chunked)
        self._done = False
        if method.upper() == "HEAD" or self.status in (204, 304) or self.status < 200:
            self._framing, self._left = "length", 0
        elif codings:
            # chunked last: chunked; else the body runs to the close (RFC 9112 6.3, point 4)
            self._framing = "chunked" if codings[-1] == "chunked" else "close"
        elif "Content-Length" in self.headers:
            self._framing = "length"
            self._left = _content_length(self.headers.get("Content-Length"))
        else:
            self._framing = "close"
        if self._framing == "close":
            self.will_close = True
        self._decoded = bytearray()   # body bytes read from the source, not yet returned

    @property
    def complete(self):
        """True once the whole body has been read (the connection is at the next response)."""
        return self._done and not self._decoded

    def read(self, n=None):
        """`n` bytes of the body (all of it for None); fewer only at the body's end."""
        while n is None or len(self._decoded) < n:
            piece = self._piece()
            if not piece:
                break
            self._decoded += piece
        return self._take(len(self._decoded) if n is None else min(n, len(self._decoded)))

    def readline(self):
        """One line of the body, b"\\n" kept (across chunks); the rest at the body's end."""
        start = 0
        while True:
            at = self._decoded.find(b"\n", start)
            if at >= 0:
                return self._take(at + 1)
            start = len(self._decoded)
            piece = self._piece()
            if not piece:
                return self._take(len(self._decoded))
            self._decoded += piece

    def _take(self, n):
        data = bytes(self._decoded[:n])
        del self._decoded[:n]
        return data

    def _piece(self):
        """The next bytes of the body as they come, b"" once it is complete. Never reads
        past what it returns: a stream's reader gets each chunk as soon as it arrives."""
        if self._done:
            return b""
        if self._framing == "close":
            data = self._source.read_some(RECV)
            self._done = not data
            return data
        if self._framing == "chunked" and not self._left:
            if self._left == 0 and _line(self._source, "chunk"):   # the CRLF after the data
                raise ProtocolError("a chunk longer than its size")
            self._left = self._chunk_size()
        if self._left == 0:
            self._done = True
            return b""
        data = self._source.read_some(min(self._left, RECV))
        if not data:
            raise ProtocolError("the connection ended inside the body")
        self._left -= len(data)
        return data

    def _chunk_size(self):
        """The next chunk's size; 0 for the last chunk, whose trailers it then reads."""
        line = _line(self._source, "chunk size")
        size = line.split(";", 1)[0].strip()   # chunk extensions are ignored
        if not size or any(c not in "0123456789abcdefABCDEF" for c in size):
            raise ProtocolError(f"not a chunk size: {line[:80]!r}")
        if int(size, 16) == 0:
            read_fields(self._source, "trailers")
        return int(size, 16)
