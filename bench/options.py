"""The command line of ``python -m bench`` (see bench/README.md, "Options")."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from urllib.parse import urlsplit

from bench.database import DEFAULT_DATABASE_URL, REPO_ROOT
from bench.dataset import DEFAULT_SEED
from bench.workload import MIXED_NAME, READ_ROUTE_NAMES, WRITE_NAMES, log

DEFAULT_OUT = REPO_ROOT / "bench" / "out"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the ECM Admin API on a PostgreSQL data set (see bench/README.md).",
    )
    parser.add_argument("--patients", type=int, default=100_000, help="data set size")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument(
        "--port", type=int, default=0, help="gunicorn's port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200, help="per route and concurrency")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per route")
    parser.add_argument(
        "--max-seconds", type=float, default=60, help="time bound of each measured phase"
    )
    parser.add_argument("--db-reps", type=int, default=7, help="timed replays of the SQL")
    parser.add_argument("--skip-build", action="store_true", help="use the data set as it is")
    parser.add_argument("--rebuild", action="store_true", help="build even if already built")
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument(
        "--no-prewarm",
        dest="prewarm",
        action="store_false",
        help="do not load the tables into shared_buffers first (measure a cold server)",
    )
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not run manage.py migrate first"
    )
    parser.add_argument(
        "--only",
        help="comma-separated names: " + ", ".join((*READ_ROUTE_NAMES, *WRITE_NAMES, MIXED_NAME)),
    )
    parser.add_argument("--bulk-runs", type=int, default=3, help="bulk_assign requests")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument(
        "--import-nice",
        type=int,
        default=0,
        help="mixed: run the import under nice -n N (0: at the reads' priority)",
    )
    parser.add_argument(
        "--mixed-bulk-runs",
        type=int,
        default=1,
        help="mixed: N bulk_assign requests beside the import (0: back to back until it ends)",
    )
    parser.add_argument(
        "--import-rate",
        type=int,
        default=0,
        help="mixed: import_members --rows-per-second N (0: as fast as it goes)",
    )
    parser.add_argument("--assign-rows", type=int, default=100_000)
    parser.add_argument(
        "--fill-patients",
        type=int,
        default=100_000,
        help="plan_caseloads: patients the fill places (at most one in ten of the data set)",
    )
    parser.add_argument("--command-timeout", type=float, default=900)
    parser.add_argument("--no-explain", action="store_true", help="skip EXPLAIN ANALYZE")
    parser.add_argument("--seed", type=int, default=7, help="seed of the request samples")
    parser.add_argument("--dataset-seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="report folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.only:
        unknown = set(args.only.split(",")) - {*READ_ROUTE_NAMES, *WRITE_NAMES, MIXED_NAME}
        if unknown:
            parser.error(f"--only: unknown names {', '.join(sorted(unknown))}")
    for name in (
        "concurrency", "requests", "db_reps", "bulk_runs", "import_rows", "assign_rows",
        "fill_patients",
    ):  # fmt: skip
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    host = urlsplit(args.database_url).hostname
    if host not in ("127.0.0.1", "localhost", "", None):
        log(f"note: the database is not local: {host}")
    return args
