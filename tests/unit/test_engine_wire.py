"""The HTTP/1.1 wire format of the stdlib Engine client (pipeline/api/wire.py), without a
server: requests compared byte for byte with what http.client writes, and responses read from
scripted pieces of bytes, split anywhere (status lines, headers, the three body framings,
interim answers, streams read across chunk boundaries, and the malformed ones)."""
import http.client as stdlib
import types

import pytest

from pipeline.api import http, wire


def source(*pieces):
    """A wire.Source whose recv gives `pieces` one at a time, then b"" (the peer closed)."""
    queue = list(pieces)
    return wire.Source(lambda n: queue.pop(0) if queue else b"")


def split(data, size):
    return [data[at:at + size] for at in range(0, len(data), size)]


def chunked(body, size):
    """`body` in chunks of `size` bytes, each with an extension, then trailers."""
    return b"".join(b"%x;ext=%d\r\n%s\r\n" % (len(part), at, part)
                    for at, part in enumerate(split(body, size))) + b"0\r\nX-Tail: t\r\n\r\n"


OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"


# --- requests ---------------------------------------------------------------------------------

class _Captured:
    def __init__(self):
        self.data = b""

    def sendall(self, data):
        self.data += data


def http_client_bytes(connection, method, target, headers, body):
    connection.sock = _Captured()
    connection.request(method, target, body=body, headers=headers)
    return connection.sock.data


@pytest.mark.parametrize("make, host", [
    (lambda: stdlib.HTTPConnection("localhost"), "localhost"),
    (lambda: stdlib.HTTPConnection("10.0.0.2", 2375), "10.0.0.2:2375"),
    (lambda: stdlib.HTTPConnection("h", 80), "h"),
    (lambda: stdlib.HTTPSConnection("h", 443), "h"),
    (lambda: stdlib.HTTPSConnection("h", 2376), "h:2376"),
    (lambda: stdlib.HTTPConnection("::1", 2375), "[::1]:2375"),
])
@pytest.mark.parametrize("method, target, headers, body", [
    ("GET", "/v1.41/tasks?filters=%7B%7D", {}, None),
    ("POST", "/v1.41/configs/create", {"Content-Type": "application/json",
                                       "X-Registry-Auth": "eyJ4IjogMX0="}, b'{"Name": "c"}'),
    ("POST", "/v1.41/containers/c1/wait?condition=not-running", {}, None),
    ("DELETE", "/v1.41/configs/c1", {}, None),
    ("GET", "/version", {"Host": "other", "Accept-Encoding": "gzip"}, None),
    ("PUT", "/v1.41/x", {"X-Registry-Auth": b"eyJ9", "X-Count": 5, "Content-Length": 2}, b"{}"),
])
def test_a_request_is_the_bytes_http_client_writes(make, host, method, target, headers, body):
    connection = make()
    port = connection.port
    assert wire.host_header(connection.host, port, connection.default_port) == host
    assert wire.request_bytes(method, target, host, headers, body) == \
        http_client_bytes(connection, method, target, headers, body)


@pytest.mark.parametrize("method, target, headers", [
    ("GET", "/a b", {}), ("GET", "/a\r\nX: y", {}), ("GE T", "/", {}),
    ("GET", "/", {"X": "a\r\nInjected: 1"}), ("GET", "/", {"Bad Name": "x"}),
])
def test_a_request_that_would_break_its_framing_is_refused(method, target, headers):
    with pytest.raises(ValueError):
        wire.request_bytes(method, target, "localhost", headers)


# --- responses --------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_a_chunked_body_with_extensions_and_trailers_split_anywhere(size):
    body = b'{"ID": "t1", "Spec": {}}' * 5
    data = OK + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 7) + OK + \
        b"Content-Length: 2\r\n\r\nok"
    src = source(*split(data, size))
    first = wire.Response(src, "GET")
    assert (first.status, first.reason, first.version) == (200, "OK", 11)
    assert first.read() == body and first.complete and not first.will_close
    second = wire.Response(src, "GET")   # the trailers were read: the next answer follows
    assert second.read() == b"ok" and src.pending() == 0


def test_a_content_length_body_and_the_next_response_on_the_same_connection():
    src = source(OK + b"Content-Length: 5\r\n\r\nhello" + OK + b"Content-Length: 0\r\n\r\n")
    first = wire.Response(src, "GET")
    assert first.read(3) == b"hel" and not first.complete
    assert first.read() == b"lo" and first.complete and not first.will_close
    assert wire.Response(src, "GET").read() == b""


def test_a_body_without_framing_runs_to_the_close_and_the_connection_goes():
    response = wire.Response(source(OK + b"\r\nall ", b"of it"), "GET")
    assert response.will_close and response.read() == b"all of it" and response.complete


@pytest.mark.parametrize("version, connection, closes", [
    (b"HTTP/1.1", b"", False), (b"HTTP/1.1", b"Connection: Close\r\n", True),
    (b"HTTP/1.1", b"Connection: keep-alive, close\r\n", True),
    (b"HTTP/1.0", b"", True), (b"HTTP/1.0", b"Connection: Keep-Alive\r\n", False),
    (b"HTTP/1.0", b"Keep-Alive: timeout=5\r\n", False),
])
def test_connection_close_and_http_1_0(version, connection, closes):
    response = wire.Response(source(version + b" 200 OK\r\n" + connection +
                                    b"Content-Length: 2\r\n\r\nok"), "GET")
    assert response.version == (10 if version == b"HTTP/1.0" else 11)
    assert response.will_close is closes and response.read() == b"ok"


def test_interim_answers_are_skipped():
    src = source(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                 + OK + b"Content-Length: 2\r\n\r\nok")
    response = wire.Response(src, "POST")
    assert response.status == 200 and response.read() == b"ok"
    assert response.headers.get("Link") is None


@pytest.mark.parametrize("method, status", [("HEAD", b"200 OK"), ("GET", b"204 No Content"),
                                            ("GET", b"304 Not Modified")])
def test_no_body_for_head_204_and_304(method, status):
    src = source(b"HTTP/1.1 " + status + b"\r\nContent-Length: 5\r\n\r\n" + OK +
                 b"Content-Length: 4\r\n\r\nnext")
    response = wire.Response(src, method)
    assert response.read() == b"" and response.complete and not response.will_close
    assert wire.Response(src, "GET").read() == b"next"


def test_headers_case_insensitive_repeated_and_folded():
    response = wire.Response(source(OK + b"x-One: a\r\nX-ONE: b\r\nX-Folded: first\r\n"
                                    b"\t second\r\ncontent-length: 0\r\n\r\n"), "GET")
    assert response.headers.get("content-type") == "text/plain"
    assert response.headers.get("X-One") == "a, b"
    assert response.headers.get("x-folded") == "first second"
    assert response.headers.get("X-None", "") == "" and "X-ONE" in response.headers


def test_reason_may_be_empty_and_status_is_kept():
    response = wire.Response(source(b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), "GET")
    assert (response.status, response.reason) == (404, "")


@pytest.mark.parametrize("data", [
    b"",                                                       # closed before answering
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",        # truncated body
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",   # truncated chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",  # no last chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",     # not a size
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",  # too long
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",               # headers cut
    b"SSH-2.0-OpenSSH_9.2\r\n",                                # garbage status line
    b"HTTP/2 200\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",
])
def test_a_malformed_or_truncated_response_is_a_protocol_error(data):
    with pytest.raises(wire.ProtocolError):
        wire.Response(source(*split(data, 5)), "GET").read()


def test_a_repeated_equal_content_length_is_one_length():
    response = wire.Response(source(OK + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nok"),
                             "GET")
    assert response.read() == b"ok"


def test_transfer_encoding_wins_over_content_length_and_other_codings_run_to_the_close():
    data = OK + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"hello", 2)
    assert wire.Response(source(data), "GET").read() == b"hello"
    other = wire.Response(source(OK + b"Transfer-Encoding: gzip\r\n\r\nxyz"), "GET")
    assert other.will_close and other.read() == b"xyz"


# --- streams across chunk boundaries ----------------------------------------------------------

def stream_of(data, piece):
    """An http.Stream over a scripted response (no socket: shutdown has nothing to shut)."""
    connection = types.SimpleNamespace(sock=None, close=lambda: None)
    return http.Stream(connection, wire.Response(source(*split(data, piece)), "GET"))


FRAMES = [(1, b"one\n"), (2, b"two: a longer line\n"), (1, b""), (1, b"x" * 300)]
MUX = b"".join(bytes([s, 0, 0, 0]) + len(t).to_bytes(4, "big") + t for s, t in FRAMES)


@pytest.mark.parametrize("chunk", [1, 3, 5, 8, 9, 13, 1000])
@pytest.mark.parametrize("piece", [1, 4, 64])
def test_frames_span_chunk_boundaries(chunk, piece):
    data = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n" \
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked(MUX, chunk)
    stream = stream_of(data, piece)
    assert stream.content_type == "application/vnd.docker.multiplexed-stream"
    assert list(stream.frames()) == [t for _, t in FRAMES if t]


@pytest.mark.parametrize("chunk", [1, 2, 5, 11, 1000])
def test_lines_span_chunk_boundaries(chunk):
    text = b'{"Action":"die","id":"c1"}\n{"Action":"die","id":"c2"}\n\nno newline at the end'
    data = OK + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(text, chunk)
    assert list(stream_of(data, 3).lines()) == text.splitlines(keepends=True)


def test_a_stream_to_the_close_ends_there_and_one_cut_short_fails():
    assert list(stream_of(OK + b"\r\n" + MUX, 6).frames()) == [t for _, t in FRAMES if t]
    cut = OK + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"a\nb\n", 3)[:-12]
    lines = stream_of(cut, 4).lines()
    assert next(lines) == b"a\n"
    with pytest.raises(http.ConnectionFailed, match="Connection aborted"):
        list(lines)
