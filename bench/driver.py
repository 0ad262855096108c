"""The HTTP load: keep-alive ``http.client`` connections from Python threads.

No new dependency: ``wrk`` is not installed here and cannot replay the varying paths and JSON
bodies without Lua scripts. A request costs the client well under a millisecond, small next
to the latencies measured, and the latency is taken around the whole exchange.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.server import HOST
from bench.workload import Request, percentile

REQUEST_TIMEOUT_S = 60


@dataclass
class Phase:
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)  # 2xx responses only
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    first_body: bytes | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    def summary(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "requests": sum(self.statuses.values()) + len(self.errors),
            "ok": self.ok,
            "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
            "errors": self.errors[:5],
            "p50_ms": percentile(self.latencies_ms, 50),
            "p95_ms": percentile(self.latencies_ms, 95),
            "p99_ms": percentile(self.latencies_ms, 99),
            "max_ms": max(self.latencies_ms) if self.latencies_ms else None,
            "rps": self.ok / self.wall_s if self.wall_s else None,
            "wall_s": self.wall_s,
        }


def _headers(token: str, body: bytes | None) -> dict[str, str]:
    headers = {"X-User-Token": token, "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return headers


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (``error`` says why)
    ms: float
    data: bytes | None
    error: str | None

    def record(self, phase: Phase) -> None:
        """Into ``phase`` (the caller holds its lock): 2xx latencies, statuses, errors."""
        if self.status is None:
            phase.errors.append(self.error or "no answer")
            return
        phase.statuses[self.status] += 1
        if 200 <= self.status < 300:
            phase.latencies_ms.append(self.ms)
        if phase.first_body is None:
            phase.first_body = self.data


class Client:
    """One keep-alive connection of a load thread. ``send`` tries once more on a fresh
    connection when the server had closed the kept-alive one."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.token = token
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, body: bytes | None) -> Answer:
        """The answer's status, latency and body, or the error of the second attempt."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT_S)
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=_headers(self.token, body))
                response = self.conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 1:
                    continue  # the server closed a kept-alive connection: once more
                return Answer(None, 0.0, None, f"{type(exc).__name__}: {exc}")
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response.will_close:
                self.close()
            return Answer(response.status, elapsed_ms, data, None)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def encode(requests: Sequence[Request]) -> list[tuple[str, str, bytes | None]]:
    return [
        (r.method, r.path, None if r.body is None else json.dumps(r.body).encode())
        for r in requests
    ]


def run_threads(worker: Callable[[], None], concurrency: int, stop: threading.Event) -> float:
    """``worker`` in ``concurrency`` threads until all return; their wall time (seconds).
    ``stop`` is set when they are done or the wait is interrupted."""
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    finally:
        stop.set()
    return time.perf_counter() - started


def drive(
    port: int,
    token: str,
    variants: Sequence[Request],
    *,
    requests: int,
    concurrency: int,
    max_seconds: float,
    offset: int = 0,
    after_each: Callable[[int], None] | None = None,
) -> Phase:
    """Send ``requests`` requests (at most ``max_seconds``) from ``concurrency`` threads.

    ``after_each(variant_index)`` runs in the sending thread after each answered request,
    before the next is sent (outside the measured time).
    """
    phase = Phase(concurrency)
    lock = threading.Lock()
    counter = itertools.count()
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds
    encoded = encode(variants)

    def worker() -> None:
        client = Client(port, token)
        try:
            while not stop.is_set():
                with lock:
                    index = next(counter)
                if index >= requests or time.monotonic() > deadline:
                    return
                variant = (offset + index) % len(encoded)
                answer = client.send(*encoded[variant])
                with lock:
                    answer.record(phase)
                if answer.status is not None and after_each is not None:
                    after_each(variant)
        finally:
            client.close()

    phase.wall_s = run_threads(worker, concurrency, stop)
    return phase


def one_request(port: int, token: str, request: Request) -> tuple[int, float, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
    body = None if request.body is None else json.dumps(request.body).encode()
    try:
        started = time.perf_counter()
        conn.request(request.method, request.path, body=body, headers=_headers(token, body))
        response = conn.getresponse()
        data = response.read()
        return response.status, time.perf_counter() - started, data
    finally:
        conn.close()
