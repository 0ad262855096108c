"""The admin token each run issues for its requests, and its removal at the end."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import subprocess
import sys

import psycopg

from bench.database import REPO_ROOT
from bench.generate import ADMIN_EMAIL
from bench.workload import Log, log

TOKEN_NAME = "bench"


def issue_token(url: str, env: dict[str, str], log: Log = log) -> str:
    """A fresh admin token for this run (earlier bench tokens are deleted); returns it raw.

    Issued by the app's own ``create_token`` command, so whatever a token row needs is
    filled in by the app; when the command is missing or fails, a row is inserted directly
    (SHA-256 digest of an ``ecm_`` token, as ``accounts.models`` stores it).
    """
    revoke_token(url)
    result = subprocess.run(
        [sys.executable, "manage.py", "create_token", "--email", ADMIN_EMAIL, "--days", "3650",
         "--name", TOKEN_NAME],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    if result.returncode == 0 and len(lines) == 1 and lines[0].startswith("ecm_"):
        return lines[0].strip()
    reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
    log(f"create_token did not work ({reason[:200]}); inserting the token row directly")
    raw = "ecm_" + secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT id FROM accounts_user WHERE email = %s", (ADMIN_EMAIL,))
        found = row.fetchone()
        if found is None:
            raise SystemExit(f"no {ADMIN_EMAIL} in the database: build the data set first")
        conn.execute(
            "INSERT INTO accounts_apitoken"
            " (name, digest, prefix, created_at, expires_at, revoked_at, last_used_at, user_id)"
            " VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s)",
            (
                TOKEN_NAME,
                hashlib.sha256(raw.encode()).hexdigest(),
                raw[:12],
                now,
                now + dt.timedelta(days=3650),
                found[0],
            ),
        )
    return raw


def revoke_token(url: str) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("DELETE FROM accounts_apitoken WHERE name = %s", (TOKEN_NAME,))
