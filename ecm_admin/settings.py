"""Settings for the ECM Admin API, read from the environment (see README, "Configuration").

Production is the default: DEBUG off, SECRET_KEY required, HTTPS only. `make run`
sets development values itself.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from ecm_admin.db_timeouts import session_options
from ecm_admin.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_seconds,
    env_str,
    env_weights,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-development-key-do-not-use-in-production"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. "
            "Set DEBUG=1 for local development, or provide SECRET_KEY."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    # The Django admin, its site ecm_admin.admin_site.EcmAdminSite (patient data audited).
    "ecm_admin.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Index wrappers (OpClass) for the trigram search indexes; harmless on SQLite.
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "accounts",
    "patients",
    "care_team",
    "audit",
    # Its migrate command lifts the statement timeout for migrations (ecm_admin.db_timeouts).
    "ecm_admin",
]

MIDDLEWARE = [
    # Request id, no-store and security headers, the request log line: on every response.
    "ecm_admin.request_context.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that may answer, so error responses carry CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    "ecm_admin.middleware.JsonErrorsMiddleware",
    # One access event per API request that touches patient data or is refused.
    "audit.middleware.AccessAuditMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ecm_admin.urls"
WSGI_APPLICATION = "ecm_admin.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Read (and checked) on every database; PostgreSQL only applies them (ecm_admin.db_timeouts).
DB_STATEMENT_TIMEOUT = env_seconds("DB_STATEMENT_TIMEOUT", 20)
DB_LOCK_TIMEOUT = env_seconds("DB_LOCK_TIMEOUT", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 3))
    # Short OLTP queries: JIT compilation costs more (tens to hundreds of ms) than it saves.
    # Then the statement and lock timeouts. Options given in DATABASE_URL come last: they win.
    DATABASES["default"]["OPTIONS"]["options"] = " ".join(
        part
        for part in (
            "-c jit=off",
            session_options(DB_STATEMENT_TIMEOUT, DB_LOCK_TIMEOUT),
            DATABASES["default"]["OPTIONS"].get("options", ""),
        )
        if part
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    # WAL lets readers run beside a writer; IMMEDIATE avoids upgrade deadlocks.
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# Sign-in by email and password; what staff may do in the Django admin follows their roles.
AUTHENTICATION_BACKENDS = ["accounts.backends.RoleBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves /static/ (the admin's and Swagger UI's assets) from the collected files,
# or straight from the installed apps when collectstatic has not been run (make serve).
WHITENOISE_USE_FINDERS = True

# --- HTTP hardening --------------------------------------------------------
HTTPS_ONLY = env_bool("HTTPS_ONLY", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31536000 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# --- CORS: only the configured admin frontends, only the API ----------------------------
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/v1/.*$"
CORS_ALLOW_CREDENTIALS = False  # the token travels in a header, never in a cookie
CORS_ALLOW_HEADERS = (
    "accept",
    "content-type",
    "x-user-token",
    "if-match",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = ("etag", "x-request-id", "retry-after")
CORS_PREFLIGHT_MAX_AGE = 600

# The admin shows a new raw token once, in a message: keep messages server-side, not in a
# cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- abuse counters (failed authentications, per-token rate; accounts.counters) ----------
# Empty: a table of the database, shared by every worker and instance, one atomic statement
# per count (UNLOGGED on PostgreSQL). redis://HOST:PORT/DB (rediss:// for TLS): Redis through
# Django's Redis cache backend. locmem://: the memory of each process (a single process only:
# each gunicorn worker would count on its own).
CACHE_URL = env_str("CACHE_URL", "")
_cache_scheme = CACHE_URL.split("://", 1)[0].lower() if "://" in CACHE_URL else None
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if CACHE_URL == "":
    ABUSE_COUNTER_STORE = "database"
elif _cache_scheme in ("redis", "rediss"):
    ABUSE_COUNTER_STORE = "redis"
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # A Redis that does not answer fails the request (503) within seconds.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
elif _cache_scheme == "locmem":
    ABUSE_COUNTER_STORE = "memory"
elif _cache_scheme == "db":
    raise ImproperlyConfigured(
        "CACHE_URL=db://... is no longer supported: Django's database cache does not count "
        "atomically, so the limits leak across workers. Leave CACHE_URL empty: the counters "
        "then live in the database (table accounts_abusecounter, created by migrate), shared "
        "by every worker and instance. For Redis: CACHE_URL=redis://HOST:6379/0."
    )
else:
    _shown = f"the scheme {_cache_scheme[:20]!r}" if _cache_scheme is not None else "no scheme"
    raise ImproperlyConfigured(
        f"CACHE_URL has {_shown}: leave it empty (counters in the database), or use "
        "redis://HOST:6379/0, rediss://... or locmem:// (one process only)."
    )

# Request bodies above this size are refused with 413 (bulk_assign of 1,000 items fits easily).
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# --- API -------------------------------------------------------------------
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 30)
# Tokens from POST /v1/auth/tokens: lifetime, and expiry after this long unused.
SIGN_IN_TOKEN_HOURS = env_int("SIGN_IN_TOKEN_HOURS", 12)
SIGN_IN_TOKEN_IDLE_MINUTES = env_int("SIGN_IN_TOKEN_IDLE_MINUTES", 20)
# Failed authentications (bad token, bad password) per client IP and per email: past the
# limit within the window, 429 until the window ends.
AUTH_FAILURE_LIMIT = env_int("AUTH_FAILURE_LIMIT", 10)
AUTH_FAILURE_WINDOW_SECONDS = env_int("AUTH_FAILURE_WINDOW_SECONDS", 300)
# Requests per token (per client IP without a token) and minute; 0 turns the limit off.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.UserTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsAdminRole"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ecm_admin.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "ecm_admin.exception_handler.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_FILTER_BACKENDS": [],
    "DEFAULT_SCHEMA_CLASS": "ecm_admin.openapi.ApiSchema",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.TokenRateThrottle"],
}

# --- OpenAPI (drf-spectacular): /v1/admin/clinic/ecm/openapi.json, .yaml, /docs ------------
# Each operation is described beside its view (@extend_schema); what they share is in
# ecm_admin/openapi.py.
SPECTACULAR_SETTINGS = {
    "TITLE": "ECM Admin API",
    "DESCRIPTION": (
        "Back office API for Medi-Cal Enhanced Care Management patients and their Lead Care "
        "Managers. Every route needs `X-User-Token` of a user with the `admin` role. Errors "
        'are always `{"errors": ["sentence", ...]}`. Dates are `YYYY-MM-DD`, timestamps UTC '
        "ISO 8601 with milliseconds and `Z`; absent values are `null`, never omitted."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH means what PUT means in this API (both partial, the envelope key required): one
    # request component for both, not a "Patched" one with every key optional.
    "COMPONENT_SPLIT_PATCH": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # assets from the drf-spectacular-sidecar package, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # validatorUrl None: no badge fetched from validator.swagger.io (the page works offline).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "displayOperationId": True, "validatorUrl": None},
    "TAGS": [
        {"name": "Patients", "description": "ECM patients and their eligibility information."},
        {"name": "Lead Care Managers", "description": "oLCM and iLCM assignments."},
        {"name": "Authentication", "description": "Sign-in tokens."},
    ],
    "PREPROCESSING_HOOKS": ["ecm_admin.openapi.preprocess"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ecm_admin.openapi.postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "AcuityLevelEnum": "patients.choices.AcuityLevel",
        "MemberRecordStatusEnum": "patients.choices.MemberRecordStatus",
        "GenderEnum": "patients.choices.Gender",
        "BulkAssignResultStatusEnum": ["success", "failed"],
        "RoleEnum": ["olcm", "ilcm"],
        "PlannedRolesEnum": ["olcm", "ilcm", "both"],
        "CareTeamRoleEnum": "care_team.choices.CareTeamRole",
    },
}

# Any case ("warning" as gunicorn spells it, or "WARNING").
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
# Every log record carries the request id (ecm_admin.request_context.configure_logging).
LOGGING_CONFIG = "ecm_admin.request_context.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's request logger prints the request line; keep it quiet, we log our own.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "INFO"},
    },
}

# --- care-team planning ---------------------------------------------------------------------
ACUITY_WEIGHTS = env_weights("ACUITY_WEIGHTS", {"low": 1, "medium": 2, "high": 3, "unknown": 2})
LCM_DEFAULT_CAPACITY = env_int("LCM_DEFAULT_CAPACITY", 60, minimum=0)
REASSIGN_COOLDOWN_DAYS = env_int("REASSIGN_COOLDOWN_DAYS", 90, minimum=0)
CARE_TEAM_DISTINCT_ROLES = env_bool("CARE_TEAM_DISTINCT_ROLES", True)
