"""The checks of ``bench/two_instances.py``, each against the running stack.

Every request is bounded in count and time and goes to 127.0.0.1 (the failing sign-ins come
from another loopback address, 127.x.y.z, which is still this machine). Which instance
answered a request is read from nginx's access log (``upstream=`` and ``request_id=``), by
the ``X-Request-ID`` each request carries.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import secrets
import select
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.local_stack import HOST

API = "/v1/admin/clinic/ecm"
SIGN_IN = "/v1/auth/tokens"
MAX_BODY = 2 * 1024 * 1024  # MAX_REQUEST_BODY_BYTES = client_max_body_size in deploy/nginx.conf
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}
LOG_LINE = re.compile(
    r'" (?P<status>\d{3}) \S+ upstream=(?P<upstream>.*?) upstream_status='
    r".*request_id=(?P<request_id>\S+)$"
)
MINUTE_MARGIN_S = 15  # the per-token limit counts in one-minute windows: stay inside one


@dataclass
class Check:
    name: str
    store: str
    passed: bool | None  # None: shown for information, not a pass/fail check
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reply:
    status: int | None
    headers: dict[str, list[str]]
    body: bytes
    elapsed: float
    error: str = ""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def send(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source: str | None = None,
    timeout: float = 10,
) -> Reply:
    started = time.monotonic()
    conn = http.client.HTTPConnection(
        HOST, port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        found: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            found.setdefault(name.lower(), []).append(value)
        return Reply(response.status, found, data, time.monotonic() - started)
    except (OSError, http.client.HTTPException) as exc:
        return Reply(None, {}, b"", time.monotonic() - started, type(exc).__name__)
    finally:
        conn.close()


def upstreams(
    access_log: Path, prefix: str, app_ports: list[int], expected: int = 0
) -> dict[str, Counter]:
    """Per instance (``app1``, ``app2``), the statuses of the requests whose id starts with
    ``prefix``, from nginx's access log. nginx writes a line just after its response, so
    this waits (up to 3 s) until ``expected`` lines are there."""
    names = {f"{HOST}:{port}": f"app{n}" for n, port in enumerate(app_ports, start=1)}
    deadline = time.monotonic() + 3
    while True:
        found: dict[str, Counter] = {}
        for line in access_log.read_text(errors="replace").splitlines():
            match = LOG_LINE.search(line)
            if match and match["request_id"].startswith(prefix):
                last = match["upstream"].split(",")[-1].strip()
                name = names.get(last, last or "nginx")
                found.setdefault(name, Counter())[int(match["status"])] += 1
        if sum(map(sum, (c.values() for c in found.values()))) >= expected:
            return found
        if time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _by_instance(found: dict[str, Counter]) -> str:
    return "; ".join(
        f"{name}: " + ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
        for name, counts in sorted(found.items())
    )


def wait_through_proxy(port: int, timeout: float = 20) -> None:
    """Until several /healthz in a row answer 200 through nginx (both instances taken back
    after a restart: nginx skips one that refused a connection for 10 s)."""
    deadline, good = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and good < 6:
        good = good + 1 if send(port, "GET", "/healthz", timeout=5).status == 200 else 0
        time.sleep(0.1)


def _stay_in_one_minute() -> None:
    left = 60 - time.time() % 60
    if left < MINUTE_MARGIN_S:
        time.sleep(left + 0.5)


def rate_limit_check(args, token: str, access_log: Path, store: str) -> Check:
    """2N requests with one token, four at a time, through nginx: exactly N 200s."""
    limit, total = args.rate_limit, 2 * args.rate_limit
    prefix = f"rate-{secrets.token_hex(4)}-"
    _stay_in_one_minute()

    def one(i: int) -> Reply:
        headers = {"X-User-Token": token, "X-Request-ID": f"{prefix}{i}"}
        return send(args.port, "GET", f"{API}/patients?per_page=1", headers)

    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(one, range(total)))
    statuses = Counter(reply.status for reply in replies)
    found = upstreams(access_log, prefix, args.app_ports, total)
    retry_after = all(r.header("Retry-After") for r in replies if r.status == 429)
    passed = (
        statuses == Counter({200: limit, 429: limit})
        and len(found) == 2
        and all(counts[429] for counts in found.values())
        and retry_after
    )
    shown = ", ".join(f"{n} x {status}" for status, n in sorted(statuses.items(), key=str))
    detail = f"{total} requests, limit {limit}: {shown} ({_by_instance(found)})"
    data = {"statuses": {str(status): n for status, n in statuses.items()}}
    return Check("per-token limit across instances", store, passed, detail, data)


def _audited_addresses(database_url: str, prefix: str) -> set[str]:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT DISTINCT host(client_ip) FROM audit_accessevent WHERE request_id LIKE %s",
            (prefix + "%",),
        ).fetchall()
    return {row[0] for row in rows}


def auth_failure_check(args, access_log: Path, store: str) -> Check:
    """Wrong sign-ins from one client address, one at a time: M 401s, then only 429s."""
    limit = args.failure_limit
    attempts = limit + max(4, limit)
    # A loopback address of its own (127.0.0.0/8 is all this machine), so that no earlier
    # run's or store's failures count here; nginx passes it on in X-Forwarded-For.
    rng = random.SystemRandom()
    client_ip = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    prefix = f"fail-{secrets.token_hex(4)}-"
    body = json.dumps({"email": f"nobody.{prefix[5:-1]}@example.org", "password": "wrong"})
    statuses = []
    for i in range(attempts):
        headers = {"Content-Type": "application/json", "X-Request-ID": f"{prefix}{i}"}
        reply = send(args.port, "POST", SIGN_IN, headers, body.encode(), source=client_ip)
        statuses.append(reply.status)
    expected = [401] * limit + [429] * (attempts - limit)
    found = upstreams(access_log, prefix, args.app_ports, attempts)
    addresses = _audited_addresses(args.database_url, prefix)
    passed = (
        statuses == expected
        and len(found) == 2
        and all(counts[429] for counts in found.values())
        and addresses == {client_ip}
    )
    detail = (
        f"{attempts} wrong sign-ins from {client_ip}, limit {limit}: "
        f"{' '.join(str(s) for s in statuses)} ({_by_instance(found)}); "
        f"client address in the audit: {', '.join(sorted(addresses)) or 'none'}"
    )
    return Check("failed sign-ins across instances", store, passed, detail, {"statuses": statuses})


def _own_error(reply: Reply, status: int) -> list[str]:
    """What is wrong with an error nginx answered itself (empty: nothing)."""
    problems = []
    if reply.status != status:
        problems.append(f"status {reply.status or reply.error}, expected {status}")
    if (reply.header("Content-Type") or "").split(";")[0] != "application/json":
        problems.append(f"Content-Type {reply.header('Content-Type')}")
    try:
        errors = json.loads(reply.body)["errors"]
        if not errors or not all(isinstance(e, str) for e in errors):
            problems.append("errors is not a list of sentences")
    except (ValueError, KeyError, TypeError):
        problems.append(f"body is not the errors envelope: {reply.body[:60]!r}")
    for name, value in SECURITY_HEADERS.items():
        if reply.headers.get(name) != [value]:
            problems.append(f"{name}: {reply.headers.get(name)}")
    return problems


def _raw(port: int, data: bytes, timeout: float = 5) -> Reply:
    """A hand-written request (headers that http.client would not send); the reply parsed."""
    started = time.monotonic()
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        headers: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            headers.setdefault(name.lower(), []).append(value)
    return Reply(response.status, headers, body, time.monotonic() - started)


def proxy_error_checks(args) -> list[Check]:
    port, checks = args.port, []
    too_long = "/" + "a" * 5000
    header = "a" * 5000
    cases = [
        (413, "body over 2 MiB", lambda: _declared_body(port, MAX_BODY + 1)),
        (414, "request line over 4 KiB", lambda: send(port, "GET", too_long)),
        (431, "header line over 4 KiB", lambda: send(port, "GET", "/healthz", {"X-Big": header})),
        (400, "malformed request line", lambda: _raw(port, b"G@T / HTTP/1.1\r\n\r\n")),
        (404, "its error location asked for", lambda: send(port, "GET", "/_proxy_error")),
        (400, "malformed Host", lambda: _raw(port, b"GET / HTTP/1.1\r\nHost: \x01\r\n\r\n")),
    ]
    for status, what, request in cases:
        problems = _own_error(request(), status)
        detail = "JSON errors, no-store, nosniff, DENY" if not problems else "; ".join(problems)
        checks.append(Check(f"nginx's own {status} ({what})", "", not problems, detail))
    # A body of exactly the limit is not nginx's to refuse: it reaches the app (POST /healthz:
    # 405 from the app, which neither counts it nor reads it).
    reply = _sized_body(port, "/healthz", MAX_BODY)
    from_app = reply.status == 405 and reply.header("Allow") is not None
    detail = f"{MAX_BODY} bytes: {reply.status or reply.error} from the app" + (
        "" if from_app else " (expected 405 with Allow)"
    )
    checks.append(Check("a 2 MiB body passes nginx", "", from_app, detail))
    # Bodies the app answers without needing them (POST /healthz: 405): each must still get
    # the app's answer. gunicorn resets a connection closed with over 64 KiB of body unread,
    # which nginx, still sending, would answer with 502 (and count the instance as failed).
    sizes = [100_000, 300_000, 1_000_000] * 10
    statuses = Counter(_sized_body(port, "/healthz", size).status for size in sizes)
    detail = ", ".join(f"{n} x {status}" for status, n in sorted(statuses.items(), key=str))
    passed = statuses == Counter({405: len(sizes)})
    checks.append(Check("bodies of 100 KB-1 MB the app did not need", "", passed, detail))
    # The app's own errors pass through as they are: one of each header, the app's body.
    reply = send(port, "GET", "/no-such-page")
    problems = _own_error(reply, 404)
    checks.append(
        Check(
            "the app's errors pass through",
            "",
            not problems,
            "404 from the app, headers once" if not problems else "; ".join(problems),
        )
    )
    return checks


def _declared_body(port: int, length: int) -> Reply:
    """Headers announcing ``length`` bytes, and no body: nginx answers from the header."""
    head = (
        f"POST {SIGN_IN} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    return _raw(port, head.encode())


def _sized_body(port: int, path: str, length: int) -> Reply:
    body = b"{}" + b" " * (length - 2)
    return send(port, "POST", path, {"Content-Type": "application/json"}, body, timeout=30)


def unavailable_check(args) -> Check:
    reply = send(args.port, "GET", "/healthz")
    problems = _own_error(reply, 502)
    if reply.header("Retry-After") != "5":
        problems.append(f"Retry-After {reply.header('Retry-After')}")
    detail = "JSON errors, Retry-After 5" if not problems else "; ".join(problems)
    return Check("nginx's own 502 (both instances down)", "", not problems, detail)


class SlowBodyFlood:
    """Connections that each announce a large body and send it a few bytes at a time."""

    def __init__(self, port: int, connections: int, length: int, chunk: int, tick: float):
        self.port, self.count, self.length = port, connections, length
        self.chunk, self.tick = b" " * chunk, tick
        self.socks: list[socket.socket] = []
        self.closed: set[int] = set()  # answered or closed by the server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def start(self) -> None:
        head = (
            f"POST {SIGN_IN} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {self.length}\r\n\r\n{{"
        ).encode()
        for _ in range(self.count):
            sock = socket.create_connection((HOST, self.port), timeout=5)
            sock.sendall(head)
            self.socks.append(sock)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(self.tick):
            live = [s for i, s in enumerate(self.socks) if i not in self.closed]
            readable = select.select(live, [], [], 0)[0] if live else []
            for sock in readable:  # the server answered (or closed): this one is over
                self.closed.add(self.socks.index(sock))
            for i, sock in enumerate(self.socks):
                if i in self.closed:
                    continue
                try:
                    sock.send(self.chunk)
                except OSError:
                    self.closed.add(i)

    @property
    def still_open(self) -> int:
        return len(self.socks) - len(self.closed)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for sock in self.socks:
            sock.close()


def poll_health(port: int, seconds: float, deadline: float) -> list[Reply]:
    replies, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        replies.append(send(port, "GET", "/healthz", timeout=max(3.0, 2 * deadline)))
        time.sleep(0.5)
    return replies


def _polls(replies: list[Reply], deadline: float) -> tuple[int, str]:
    good = sum(1 for r in replies if r.status == 200 and r.elapsed <= deadline)
    slowest = max((r.elapsed for r in replies), default=0.0)
    failures = Counter(str(r.status or r.error) for r in replies if r.status != 200)
    shown = f"; failed: {dict(failures)}" if failures else ""
    summary = f"{good}/{len(replies)} polls 200 within {deadline:g} s (slowest {slowest:.2f} s)"
    return good, summary + shown


def flood_check(args) -> list[Check]:
    """The flood through nginx (a check), then straight to one instance (for contrast)."""
    checks = []
    for port in (args.port, args.app_ports[0]):
        flood = SlowBodyFlood(
            port, args.flood_connections, args.flood_length, args.flood_bytes, args.flood_tick
        )
        try:
            flood.start()
            replies = poll_health(port, args.flood_seconds, args.health_deadline)
            still_open = flood.still_open
        finally:
            flood.stop()
        good, summary = _polls(replies, args.health_deadline)
        held = f"; {still_open}/{args.flood_connections} slow connections still open at the end"
        if port == args.port:
            passed = bool(replies) and good == len(replies) and still_open > 0
            checks.append(
                Check(
                    "/healthz during a slow-body flood, through nginx", "", passed, summary + held
                )
            )
        else:
            recovered = _recovery(port)
            checks.append(
                Check(
                    "the same flood straight to one gunicorn instance",
                    "",
                    None,
                    summary + held + f"; 200 again {recovered} after the flood",
                )
            )
    return checks


def _recovery(port: int, timeout: float = 30) -> str:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if send(port, "GET", "/healthz", timeout=3).status == 200:
            return f"{time.monotonic() - started:.1f} s"
        time.sleep(0.2)
    return f"not within {timeout:.0f} s"
