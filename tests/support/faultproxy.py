"""A TCP proxy in front of the registry that fails the first N connections on purpose.

Each failed connection gets one HTTP 503 (or is reset without an answer) and is closed, so the
client's next request opens a new connection; after the failures every connection is piped
through to the real registry untouched.
"""
import socket
import threading

RESPONSE_503 = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 20\r\nConnection: close\r\n\r\nregistry unavailable")


class FaultProxy:
    """Listen on 127.0.0.1:<port>, forward to `target` (host, port) after `failures` faults."""

    def __init__(self, target, failures=0, mode="503"):
        self.target = target
        self.failures = failures
        self.mode = mode          # "503" or "reset"
        self.faulted = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self):
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                fault = self.faulted < self.failures
                if fault:
                    self.faulted += 1
            threading.Thread(target=self._handle, args=(client, fault), daemon=True).start()

    def _handle(self, client, fault):
        with client:
            if fault:
                client.recv(65536)  # the request head: answer only once it was sent
                if self.mode == "503":
                    client.sendall(RESPONSE_503)
                else:
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                return
            try:
                upstream = socket.create_connection(self.target, timeout=30)
            except OSError:
                return
            with upstream:
                pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                pump.start()
                _pipe(client, upstream)
                pump.join(timeout=30)


def _pipe(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
