"""The benchmark's HTTP driver (bench/driver.py) against a small local server: no database."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import driver
from bench.workload import Request


@pytest.fixture
def server():
    """A server on 127.0.0.1 that answers 200 and notes each path it is asked for."""
    events: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            events.append(f"request {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer((driver.HOST, 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], events
    httpd.shutdown()
    httpd.server_close()


def test_each_answer_is_followed_by_the_hook_before_the_next_request(server):
    """The database time is replayed in step with the c=1 load: after each answered request,
    for the variant it sent, and before the next request goes out."""
    port, events = server
    variants = [Request("GET", "/a"), Request("GET", "/b"), Request("GET", "/c")]

    phase = driver.drive(
        port,
        "token",
        variants,
        requests=5,
        concurrency=1,
        max_seconds=30,
        after_each=lambda variant: events.append(f"after {variant}"),
    )

    assert phase.ok == 5
    assert events == [
        "request /a", "after 0",
        "request /b", "after 1",
        "request /c", "after 2",
        "request /a", "after 0",
        "request /b", "after 1",
    ]  # fmt: skip
