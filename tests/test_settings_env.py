"""The production settings read from the environment (API.md §6, README "Configuration").

Each case imports ``ecm_admin.settings`` in a fresh interpreter with a clean environment, so
nothing from this process (or the test settings) leaks in.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent

PROBE = """
import json
import django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "SECURE_PROXY_SSL_HEADER": getattr(settings, "SECURE_PROXY_SSL_HEADER", None),
    "CORS_ALLOWED_ORIGINS": settings.CORS_ALLOWED_ORIGINS,
    "MAX_REQUEST_BODY_BYTES": settings.MAX_REQUEST_BODY_BYTES,
    "API_TOKEN_DEFAULT_DAYS": settings.API_TOKEN_DEFAULT_DAYS,
    "ENGINE": db["ENGINE"],
    "NAME": str(db["NAME"]),
    "HOST": db.get("HOST", ""),
    "PORT": db.get("PORT", ""),
    "USER": db.get("USER", ""),
    "CONN_MAX_AGE": db.get("CONN_MAX_AGE"),
    "OPTIONS": db.get("OPTIONS", {}),
    "LOG_LEVEL": settings.LOGGING["root"]["level"],
}))
"""


def run_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "ecm_admin.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def load_settings(**env: str) -> dict:
    result = run_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    for word in words:
        assert word in result.stderr


# --- SECRET_KEY and DEBUG --------------------------------------------------------------------


def test_no_secret_key_and_debug_unset_refuses_to_start():
    assert_refused(run_settings(), "SECRET_KEY")


def test_no_secret_key_and_debug_off_refuses_to_start():
    assert_refused(run_settings(DEBUG="0"), "SECRET_KEY")


def test_blank_secret_key_refuses_to_start():
    assert_refused(run_settings(SECRET_KEY=""), "SECRET_KEY")


def test_manage_py_refuses_to_start_without_secret_key():
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_on_without_secret_key_uses_a_development_key():
    values = load_settings(DEBUG="1")
    assert values["DEBUG"] is True
    assert values["SECRET_KEY"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0


def test_invalid_boolean_is_refused():
    assert_refused(run_settings(DEBUG="maybe"), "DEBUG")


def test_invalid_integer_is_refused():
    assert_refused(run_settings(SECRET_KEY="k" * 50, MAX_REQUEST_BODY_BYTES="lots"))


# --- production defaults ---------------------------------------------------------------------


def test_secret_key_set_and_debug_unset_is_production():
    values = load_settings(SECRET_KEY="s" * 50)
    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == "s" * 50
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] > 0
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["CORS_ALLOWED_ORIGINS"] == []
    assert values["MAX_REQUEST_BODY_BYTES"] == 2 * 1024 * 1024
    assert values["API_TOKEN_DEFAULT_DAYS"] == 30


def test_https_only_off_serves_plain_http():
    values = load_settings(SECRET_KEY="s" * 50, HTTPS_ONLY="0")
    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SESSION_COOKIE_SECURE"] is False


def test_https_only_can_be_forced_on_in_debug():
    values = load_settings(DEBUG="1", HTTPS_ONLY="1")
    assert values["SECURE_SSL_REDIRECT"] is True


def test_lists_and_numbers_are_parsed():
    values = load_settings(
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="api.example.org, admin.example.org ,",
        CORS_ALLOWED_ORIGINS="https://admin.example.org",
        TRUSTED_PROXY_COUNT="1",
        MAX_REQUEST_BODY_BYTES="1000",
        API_TOKEN_DEFAULT_DAYS="7",
        LOG_LEVEL="WARNING",
    )
    assert values["ALLOWED_HOSTS"] == ["api.example.org", "admin.example.org"]
    assert values["CORS_ALLOWED_ORIGINS"] == ["https://admin.example.org"]
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["MAX_REQUEST_BODY_BYTES"] == 1000
    assert values["API_TOKEN_DEFAULT_DAYS"] == 7
    assert values["LOG_LEVEL"] == "WARNING"


def test_log_level_is_read_in_any_case():
    assert load_settings(SECRET_KEY="s" * 50, LOG_LEVEL=" warning ")["LOG_LEVEL"] == "WARNING"
    assert load_settings(SECRET_KEY="s" * 50, LOG_LEVEL="")["LOG_LEVEL"] == "INFO"


def test_unknown_log_level_refuses_to_start_saying_what_is_allowed():
    assert_refused(
        run_settings(SECRET_KEY="s" * 50, LOG_LEVEL="verbose"), "LOG_LEVEL", "WARNING", "verbose"
    )


# --- DATABASE_URL ----------------------------------------------------------------------------


def test_default_database_is_sqlite_in_the_project_folder():
    values = load_settings(SECRET_KEY="s" * 50)
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(values["NAME"]) == PROJECT_DIR / "db.sqlite3"


# ids avoid the bare word "postgres": tests/conftest.py treats it as the "needs PostgreSQL" mark.
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"], ids=["long-scheme", "short-scheme"])
def test_postgresql_url_is_parsed(scheme):
    values = load_settings(
        SECRET_KEY="s" * 50,
        DATABASE_URL=f"{scheme}://ecm:s3cret@db.internal:6543/ecm_admin",
    )
    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["NAME"] == "ecm_admin"
    assert values["HOST"] == "db.internal"
    assert int(values["PORT"]) == 6543
    assert values["USER"] == "ecm"
    assert values["OPTIONS"]["connect_timeout"] == 3
    assert values["CONN_MAX_AGE"] == 60


def test_database_timeouts_are_configurable():
    values = load_settings(
        SECRET_KEY="s" * 50,
        DATABASE_URL="postgresql://ecm@db.internal/ecm_admin",
        DB_CONNECT_TIMEOUT="9",
        DB_CONN_MAX_AGE="0",
    )
    assert values["OPTIONS"]["connect_timeout"] == 9
    assert values["CONN_MAX_AGE"] == 0


def test_sqlite_url_is_honoured(tmp_path):
    target = tmp_path / "other.sqlite3"
    values = load_settings(SECRET_KEY="s" * 50, DATABASE_URL=f"sqlite:///{target}")
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(values["NAME"]) == target


# --- the WSGI application, as gunicorn loads it ------------------------------------------------

WSGI_PROBE = """
import sys
import ecm_admin.wsgi
from django.db import connections
assert "care_team.views" in sys.modules and "patients.views" in sys.modules
assert all(c.connection is None for c in connections.all(initialized_only=True))
print("loaded")
"""


def test_loading_the_wsgi_application_imports_the_views_and_opens_no_connection():
    """gunicorn loads the application in its master (``preload_app``) and forks the workers
    from it: a database connection opened there would be shared by every worker. The address
    below answers nothing, so any attempt to connect fails the load."""
    result = subprocess.run(
        [sys.executable, "-c", WSGI_PROBE],
        cwd=PROJECT_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "SECRET_KEY": "s" * 50,
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "loaded"
