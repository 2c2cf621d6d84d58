"""Fault injection and the request log used by tests and benchmarks."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import NamedTuple, Optional


class RequestRecord(NamedTuple):
    """One served request: ``(method, path, status)``.

    ``path`` is the raw request target (with query string); ``status`` is
    None when the connection was reset without a response.
    """

    method: str
    path: str
    status: Optional[int]


@dataclass
class Fault:
    """A pending fault: answer ``status`` (or reset) for the next ``count`` matches.

    ``after=True`` lets the request take effect first and then loses the
    response (the "did my createItem happen?" case); the default fails the
    request before Jenkins sees it, like a proxy would.
    """

    status: int = 503
    count: int = 1
    path_regex: Optional[str] = None
    method: Optional[str] = None
    reset: bool = False
    after: bool = False
    hits: int = 0
    _pattern: Optional["re.Pattern[str]"] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path_regex) if self.path_regex else None

    @property
    def remaining(self) -> int:
        """How many more requests this fault will hit."""
        return self.count - self.hits

    def matches(self, method: str, path: str) -> bool:
        """Whether ``method path`` is one this fault targets (``re.search``)."""
        if self.method is not None and self.method.upper() != method:
            return False
        return self._pattern is None or self._pattern.search(path) is not None


class FaultInjector:
    """Thread-safe list of faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, status: int = 503, count: int = 1, path_regex: Optional[str] = None,
            method: Optional[str] = None, reset: bool = False,
            after: bool = False) -> Fault:
        """Fail the next ``count`` requests matching ``path_regex``/``method``.

        ``reset=True`` closes the connection without any response instead of
        answering ``status``.  ``path_regex`` is searched in the raw path
        including the query string.  Returns the Fault (see ``remaining``).
        """
        fault = Fault(status, count, path_regex, method, reset, after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Optional[Fault]:
        """Consume and return the first live fault matching the request."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.hits += 1
                    return fault
            return None

    def clear(self) -> None:
        """Drop all faults."""
        with self._lock:
            self._faults.clear()


class RequestLog:
    """Thread-safe append-only log of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Record one request."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """A copy of the records so far."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget all records (e.g. between benchmark phases)."""
        with self._lock:
            self._records.clear()

    def count(self, kind: Optional[str] = None, path_regex: Optional[str] = None) -> int:
        """Count requests: ``kind`` "reads" (non-POST), "writes" (POST) or None."""
        if kind not in (None, "reads", "writes"):
            raise ValueError(f"kind must be 'reads', 'writes' or None, not {kind!r}")
        pattern = re.compile(path_regex) if path_regex else None
        total = 0
        for record in self.snapshot():
            if kind == "writes" and record.method != "POST":
                continue
            if kind == "reads" and record.method == "POST":
                continue
            if pattern is not None and not pattern.search(record.path):
                continue
            total += 1
        return total
