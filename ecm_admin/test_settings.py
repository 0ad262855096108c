"""Settings for the test suite: the production settings with test-friendly values.

DATABASE_URL still chooses the database, so the same suite runs on SQLite and PostgreSQL.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("HTTPS_ONLY", "0")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

from ecm_admin.settings import *  # noqa: F403
from ecm_admin.settings import CACHES, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    # CACHE_URL=redis://... runs the limits on Redis. Each test process counts under a prefix
    # of its own, so clearing its counters between tests leaves other processes' alone.
    CACHES["default"]["KEY_PREFIX"] = f"test{os.getpid()}"
