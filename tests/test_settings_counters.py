"""``CACHE_URL``: where the abuse counters live (README, "Configuration"). Each case imports the
production settings in a fresh interpreter with a clean environment, as
``test_settings_env.py`` does."""

import json
import os
import subprocess
import sys

from tests.test_settings_env import PROJECT_DIR, assert_refused

PROBE = """
import json
import django
from django.conf import settings
django.setup()
from accounts.counters import store
print(json.dumps({
    "STORE": settings.ABUSE_COUNTER_STORE,
    "CLASS": type(store()).__name__,
    "CACHE": settings.CACHES["default"]["BACKEND"],
    "LOCATION": settings.CACHES["default"].get("LOCATION"),
}))
"""

CHECK = (
    "import django; from django.core.management import call_command; django.setup(); "
    "call_command('check', fail_level='WARNING')"
)


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "ecm_admin.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
        "SECRET_KEY": "x" * 60,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(**env: str) -> dict:
    result = run(PROBE, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_by_default_the_counters_live_in_the_database():
    assert probe() == {
        "STORE": "database",
        "CLASS": "DatabaseCounters",
        "CACHE": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": None,
    }


def test_redis_uses_djangos_redis_cache_backend():
    url = "redis://cache.internal:6379/2"
    assert probe(CACHE_URL=url) == {
        "STORE": "redis",
        "CLASS": "RedisCounters",
        "CACHE": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
    }
    assert probe(CACHE_URL="rediss://cache.internal:6380/0")["STORE"] == "redis"


def test_locmem_is_allowed_with_a_warning():
    assert probe(CACHE_URL="locmem://")["CLASS"] == "MemoryCounters"
    result = run(CHECK, CACHE_URL="locmem://")
    assert result.returncode != 0
    assert "accounts.W001" in result.stderr and "multiplied" in result.stderr
    assert run(CHECK).returncode == 0, run(CHECK).stderr


def test_the_database_cache_is_refused_with_the_way_out():
    result = run(PROBE, CACHE_URL="db://ecm_cache")
    assert_refused(result, "CACHE_URL=db://", "not count atomically", "Leave CACHE_URL empty")


def test_an_unknown_scheme_stops_the_start():
    result = run(PROBE, CACHE_URL="memcached://127.0.0.1:11211")
    assert_refused(result, "CACHE_URL", "'memcached'", "redis://")
    # No scheme at all: nothing of the value is repeated (it could hold a password).
    result = run(PROBE, CACHE_URL="s3cret-host:6379")
    assert_refused(result, "CACHE_URL has no scheme")
    assert "s3cret" not in result.stderr
