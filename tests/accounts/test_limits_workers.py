"""The limits hold across gunicorn's worker processes: the real server with 5 workers, the
production settings, small limits, and twice the limit sent at once on connections of their
own. Exactly the limit passes: per token, per address (tokens and sign-ins) and per email.

On PostgreSQL (the test database) and on SQLite (a database file of the test's own); with the
store the settings name (the database; Redis when CACHE_URL=redis://...).
"""

import json
import secrets
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from accounts.services import token_create
from tests import factories
from tests.gunicorn_server import PROJECT_DIR, GunicornServer

pytestmark = pytest.mark.limits

RATE_LIMIT = 30
FAILURE_LIMIT = 5
PASSWORD = "a long and unusual passphrase 42"
PATIENTS = "/v1/admin/clinic/ecm/patients?per_page=1"
SIGN_IN = "/v1/auth/tokens"


def server_env(database_url: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "API_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        "AUTH_FAILURE_LIMIT": str(FAILURE_LIMIT),
        "AUTH_FAILURE_WINDOW_SECONDS": "300",
        # Each scenario below comes from addresses of its own (X-Forwarded-For).
        "TRUSTED_PROXY_COUNT": "1",
    }
    cache_url = settings.CACHE_URL
    if cache_url:
        env["CACHE_URL"] = cache_url
    return env


def random_address() -> str:
    return "10." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


def at_once(server: GunicornServer, calls: list[tuple]) -> Counter:
    """Send every call at the same time (10 at once); the count of each status."""

    def send(call):
        method, path, body, headers = call
        return server.request(method, path, body, headers)[0]

    with ThreadPoolExecutor(max_workers=10) as pool:
        return Counter(pool.map(send, calls))


def assert_limits_hold(server: GunicornServer, email: str, tokens: list[str]) -> None:
    assert server.booted_workers() >= 5
    rate_token, other_token = tokens
    home = random_address()

    # Per token: 2x the rate limit with one valid token, from one address.
    calls = [("GET", PATIENTS, None, {"X-User-Token": rate_token, "X-Forwarded-For": home})]
    assert at_once(server, calls * (2 * RATE_LIMIT)) == {200: RATE_LIMIT, 429: RATE_LIMIT}

    # Per address, refused tokens: 401 up to the limit, then 429; a valid token still served.
    bad = [
        ("GET", PATIENTS, None, {"X-User-Token": "ecm_" + secrets.token_urlsafe(32),
                                 "X-Forwarded-For": home})
        for _ in range(2 * FAILURE_LIMIT)
    ]  # fmt: skip
    assert at_once(server, bad) == {401: FAILURE_LIMIT, 429: FAILURE_LIMIT}
    headers = {"X-User-Token": other_token, "X-Forwarded-For": home}
    assert server.request("GET", PATIENTS, headers=headers)[0] == 200

    # Per email: wrong passwords from as many addresses; then the right one is refused too.
    wrong = [
        ("POST", SIGN_IN, {"email": email, "password": f"guess {n}"},
         {"X-Forwarded-For": random_address()})
        for n in range(2 * FAILURE_LIMIT)
    ]  # fmt: skip
    assert at_once(server, wrong) == {401: FAILURE_LIMIT, 429: FAILURE_LIMIT}
    right = {"email": email, "password": PASSWORD}
    status, response_headers, body = server.request(
        "POST", SIGN_IN, right, {"X-Forwarded-For": random_address()}
    )
    assert status == 429, body
    assert json.loads(body) == {"errors": ["Too many failed attempts; try again later"]}
    assert int(response_headers["Retry-After"]) > 0

    # Per address, sign-ins: wrong passwords for as many emails from one address.
    spray = random_address()
    guesses = [
        ("POST", SIGN_IN, {"email": f"guess{n}@example.org", "password": "nope"},
         {"X-Forwarded-For": spray})
        for n in range(2 * FAILURE_LIMIT)
    ]  # fmt: skip
    assert at_once(server, guesses) == {401: FAILURE_LIMIT, 429: FAILURE_LIMIT}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_limits_hold_across_five_workers_on_postgresql(tmp_path):
    email = f"limits-{secrets.token_hex(4)}@example.org"
    user = factories.UserFactory(email=email, roles=["admin"])
    user.set_password(PASSWORD)
    user.save()
    tokens = [token_create(user=user)[1] for _ in range(2)]
    db = connection.settings_dict
    url = (
        f"postgresql://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    with GunicornServer(server_env(url), tmp_path / "gunicorn.log") as server:
        assert_limits_hold(server, email, tokens)


SQLITE_SETUP = """
import sys
import django
from django.core.management import call_command
django.setup()
call_command("migrate", verbosity=0)
from accounts.models import Role, User
from accounts.services import token_create
user = User.objects.create_user(email=sys.argv[1], password=sys.argv[2], first_name="L",
                                last_name="Imits")
user.roles.add(Role.objects.get_or_create(name="admin")[0])
for _ in range(2):
    print(token_create(user=user)[1])
"""


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the SQLite file case runs in the SQLite suite"
)
def test_limits_hold_across_five_workers_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'limits.sqlite3'}"
    email = f"limits-{secrets.token_hex(4)}@example.org"
    env = {**server_env(url), "DJANGO_SETTINGS_MODULE": "ecm_admin.settings", "DEBUG": "1"}
    setup = subprocess.run(
        [sys.executable, "-c", SQLITE_SETUP, email, PASSWORD],
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert setup.returncode == 0, setup.stderr
    tokens = setup.stdout.split()
    with GunicornServer(server_env(url), tmp_path / "gunicorn.log") as server:
        assert_limits_hold(server, email, tokens)
