"""A small, bounded HTTP load generator for measuring downtime during a deploy.

N worker threads send GET requests at a steady total rate to 127.0.0.1:PORT with a Host header,
one new connection per request (`Connection: close`, no keep-alive: every request is routed
afresh), each with its own timeout. Every request is recorded: when it was sent, its status, the
version the body names, its latency, or the error. Started and stopped around an operation:

    with Load(port, "svc.lab.localhost", rate=40) as load:
        run_the_deploy()
    result = load.result            # sent, failed, versions, p50/p99 ...

Bounded three ways: the stop() call, `max_seconds` and `max_requests`, whichever comes first.
Loopback, or the multi-node lab's own bridge (lab/multinode: 10.210.0.0/24, a network the lab
creates on this machine) only: any other address is refused.
"""
import http.client
import ipaddress
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.support.poll import poll_until

_VERSION = re.compile(r"version ([A-Za-z0-9._+-]+)")
LAB_BRIDGE = ipaddress.ip_network("10.210.0.0/24")   # lab/multinode/lib.sh MN_SUBNET_PREFIX


def allowed_address(address):
    """Loopback, or an address on the multi-node lab's bridge."""
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or ip in LAB_BRIDGE


@dataclass
class Sample:
    """One request: `at` seconds after the load started, `latency` in seconds."""

    at: float
    latency: float
    status: int = 0            # 0: no HTTP answer (see error)
    version: str = ""          # what the body names ("hello from shipway, version 2.0.0")
    error: str = ""

    @property
    def ok(self):
        return self.status == 200 and not self.error


def version_of(body):
    """The version a hello page names, else the body's first 40 characters."""
    match = _VERSION.search(body)
    return match.group(1) if match else body.strip()[:40]


def percentile(values, pct):
    """Nearest-rank percentile of `values` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))   # ceil(n * pct / 100), at least 1
    return ordered[int(rank) - 1]


@dataclass
class Result:
    """What a load run saw."""

    samples: list = field(default_factory=list)
    duration: float = 0.0
    # when the measured operation ran, in seconds after the load started (see measure)
    operation: tuple = (0.0, 0.0)

    @classmethod
    def combined(cls, results):
        """One Result over several runs (sample times stay relative to their own run)."""
        results = list(results)
        return cls([s for r in results for s in r.samples], sum(r.duration for r in results),
                   (0.0, sum(r.operation[1] - r.operation[0] for r in results)))

    @property
    def sent(self):
        return len(self.samples)

    @property
    def failures(self):
        return [s for s in self.samples if not s.ok]

    @property
    def failed(self):
        return len(self.failures)

    @property
    def versions(self):
        """Version -> count, over the successful answers."""
        return dict(Counter(s.version for s in self.samples if s.ok))

    @property
    def version_order(self):
        """The versions in the order they were first seen (successful answers only)."""
        order = []
        for sample in sorted(self.samples, key=lambda s: s.at):
            if sample.ok and sample.version not in order:
                order.append(sample.version)
        return order

    def after(self, at):
        """The samples sent `at` seconds or later after the load started."""
        return [s for s in self.samples if s.at >= at]

    def latency_ms(self, pct):
        return round(percentile([s.latency for s in self.samples], pct) * 1000, 1)

    def failure_kinds(self):
        """'503' / 'timeout' / ... -> count."""
        return dict(Counter(s.error or str(s.status) for s in self.failures))

    def summary(self):
        """The figures, JSON-ready."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "versions": self.versions,
            "version_order": self.version_order,
            "p50_ms": self.latency_ms(50),
            "p99_ms": self.latency_ms(99),
            "max_ms": self.latency_ms(100),
            "seconds": round(self.duration, 1),
            "operation_seconds": round(self.operation[1] - self.operation[0], 1),
            "rate": round(self.sent / self.duration, 1) if self.duration else 0.0,
            "failure_kinds": self.failure_kinds(),
        }

    def describe(self):
        """One line for logs and assertion messages."""
        s = self.summary()
        mix = ", ".join(f"{v}: {n}" for v, n in s["versions"].items()) or "none"
        text = (f"sent {s['sent']} in {s['seconds']}s, failed {s['failed']}, versions {{{mix}}}, "
                f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms")
        if s["failed"]:
            first = self.failures[0]
            text += (f"; failures {s['failure_kinds']}, first at {first.at:.2f}s: "
                     f"{first.error or first.status}")
        return text


class Load:
    """Steady GET load on http://127.0.0.1:PORT/PATH with `Host: host`.

    rate: requests per second over all threads (each thread keeps its own share of the
    schedule; a thread that falls behind does not burst to catch up). timeout: per request
    (connect and each read). Bounded by stop(), max_seconds and max_requests.
    """

    def __init__(self, port, host, path="/", *, address="127.0.0.1", threads=4, rate=40.0,
                 timeout=2.0, max_seconds=120.0, max_requests=10000):
        if not allowed_address(address):
            raise ValueError(f"load goes to loopback or the lab's bridge only, not {address}")
        if threads < 1 or rate <= 0 or max_seconds <= 0 or max_requests < 1:
            raise ValueError("threads, rate, max_seconds and max_requests must be positive")
        self.address, self.port, self.host, self.path = address, int(port), host, path
        self.threads, self.rate, self.timeout = threads, float(rate), float(timeout)
        self.max_seconds, self.max_requests = float(max_seconds), int(max_requests)
        self.result = None
        self._samples = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = []
        self._started = None

    @property
    def started(self):
        """time.monotonic() when the load started."""
        return self._started

    # --- one request -------------------------------------------------------------------
    def request(self):
        """One GET on a new connection: (status, version, error)."""
        conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path, headers={"Host": self.host, "Connection": "close",
                                                    "User-Agent": "shipway-load"})
            response = conn.getresponse()
            body = response.read(65536).decode("utf-8", "replace")
            return response.status, version_of(body) if response.status == 200 else "", ""
        except socket.timeout:
            return 0, "", "timeout"
        except ConnectionRefusedError:
            return 0, "", "refused"
        except ConnectionResetError:
            return 0, "", "reset"
        except (OSError, http.client.HTTPException) as exc:
            return 0, "", type(exc).__name__
        finally:
            conn.close()

    # --- the workers -------------------------------------------------------------------
    def _take_slot(self):
        with self._lock:
            if len(self._samples) + self._in_flight >= self.max_requests:
                return False
            self._in_flight += 1
            return True

    _in_flight = 0

    def _worker(self, index):
        interval = self.threads / self.rate           # this thread's spacing
        next_at = self._started + index * interval / self.threads
        end = self._started + self.max_seconds
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            if next_at > now:
                if self._stop.wait(min(next_at - now, end - now)):
                    break
                continue
            if not self._take_slot():
                break
            sent = time.monotonic()
            status, version, error = self.request()
            done = time.monotonic()
            with self._lock:
                self._in_flight -= 1
                self._samples.append(Sample(round(sent - self._started, 4), done - sent,
                                            status, version, error))
            # steady: the next request one interval after this one was due, but never in a
            # burst to make up for a slow answer
            next_at = max(next_at + interval, done)

    def start(self):
        if self._started is not None:
            raise RuntimeError("a Load runs once")
        self._started = time.monotonic()
        for index in range(self.threads):
            worker = threading.Thread(target=self._worker, args=(index,), daemon=True,
                                      name=f"load-{index}")
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self):
        """Stop the workers (a request in flight ends within its timeout); return the Result."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.timeout * 3 + 5)
        with self._lock:
            samples = sorted(self._samples, key=lambda s: s.at)
        self.result = Result(samples, time.monotonic() - self._started)
        return self.result

    def wait(self):
        """Block until max_seconds or max_requests ends the run; return the Result."""
        for worker in self._workers:
            worker.join(timeout=self.max_seconds + self.timeout * 3 + 5)
        return self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def measure(port, host, operation, *, lead=1.0, tail=1.0, **load_options):
    """Run `operation()` under load: `lead` seconds of load before it, `tail` after it.

    Returns (what operation returned, Result). The tail catches failures that come right after
    the operation reports success (an old task still being stopped, a DNS answer still cached).
    """
    load = Load(port, host, **load_options).start()
    began = ended = 0.0
    try:
        time.sleep(lead)
        began = time.monotonic() - load.started
        value = operation()
        ended = time.monotonic() - load.started
        time.sleep(tail)
    finally:
        result = load.stop()
        result.operation = (began, ended or time.monotonic() - load.started)
    return value, result


def get(port, host, path="/", *, timeout=2.0, address="127.0.0.1"):
    """One GET through the same code the load uses: (status, version, error)."""
    return Load(port, host, path, timeout=timeout, address=address).request()


def wait_until(port, host, predicate, *, timeout=60.0, interval=0.25, path="/",
               address="127.0.0.1"):
    """Poll GET until predicate(status, version, error) holds; bounded. Returns the answer;
    raises PollTimeout (a TimeoutError) with the last one when the deadline passes."""
    return poll_until(lambda: get(port, host, path, address=address), timeout,
                      f"GET http://{address}:{port}{path} Host {host} to answer as wanted",
                      interval, until=lambda answer: predicate(*answer))
