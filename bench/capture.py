"""Captures the SQL each request runs: ``python -m bench.capture SPEC.json OUT.json``.

Started by ``bench.replay`` in its own short process with the app's environment (production
settings against the bench database). Every request of the spec goes through
``django.test.Client`` with the admin token; read requests are sent twice, the first to warm
the caches and to refresh the token's ``last_used_at`` (so the captured set has no write),
the second inside ``CaptureQueriesContext``. The SQL text Django reports is fully bound
(psycopg 3 client-side binding), so ``bench.replay`` can replay it as is, with the session
options the app's connections use (``options`` in the output, such as ``-c jit=off``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.capture SPEC.json OUT.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecm_admin.settings")

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(
        HTTP_X_USER_TOKEN=spec["token"], HTTP_HOST="127.0.0.1", raise_request_exception=False
    )

    def send(request: dict):
        body = request.get("body")
        return client.generic(
            request["method"],
            request["path"],
            data=json.dumps(body) if body is not None else "",
            content_type="application/json",
        )

    results: dict[str, list[dict]] = {}
    for route in spec["routes"]:
        captured = []
        for request in route["variants"]:
            if not route.get("write"):
                send(request)
            with CaptureQueriesContext(connection) as context:
                started = time.perf_counter()
                response = send(request)
                elapsed = time.perf_counter() - started
            captured.append(
                {
                    "status": response.status_code,
                    "ms": elapsed * 1000,
                    "sql": [query["sql"] for query in context.captured_queries],
                    "body_head": response.content[:300].decode("utf-8", "replace"),
                }
            )
            if response.status_code == 404 and not route.get("write"):
                break  # a missing route answers every variant the same way
        results[route["name"]] = captured
    options = connection.settings_dict.get("OPTIONS", {}).get("options", "")
    Path(argv[1]).write_text(json.dumps({"options": options, "routes": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
