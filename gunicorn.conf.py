"""Gunicorn settings for the ECM Admin API: ``gunicorn -c gunicorn.conf.py``.

Everything can be tuned from the environment (see README, "Configuration"):

- ``GUNICORN_BIND``: address to listen on (default ``127.0.0.1:8000``; the container uses
  ``0.0.0.0:8000``). Several addresses may be given, comma-separated.
- ``WEB_CONCURRENCY``: worker processes (default ``2 * cores + 1``, at most 8).
- ``GUNICORN_THREADS``: threads per worker (default 2).
- ``GUNICORN_TIMEOUT``: seconds before a silent worker is restarted (default 30).
- ``GUNICORN_GRACEFUL_TIMEOUT``, ``GUNICORN_KEEPALIVE``, ``GUNICORN_MAX_REQUESTS``,
  ``GUNICORN_MAX_REQUESTS_JITTER``, ``GUNICORN_CONTROL_SOCKET``, ``FORWARDED_ALLOW_IPS``.

Requests over the limits below, and malformed ones, are refused by gunicorn itself; the
workers of ``ecm_admin.gunicorn_workers`` answer those in the service's JSON envelope.

The access log never contains query strings, because they can carry PHI (``?search=Jane``):
it records the method, the path, the status and the duration only.
"""

import os


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, got {value}")
    return value


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


MAX_DEFAULT_WORKERS = 8

wsgi_app = "ecm_admin.wsgi:application"

bind = [
    address.strip()
    for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
    if address.strip()
]

workers = _env_int("WEB_CONCURRENCY", min(2 * _cores() + 1, MAX_DEFAULT_WORKERS))
threads = _env_int("GUNICORN_THREADS", 2)
# gunicorn's gthread and sync workers, answering the requests gunicorn refuses itself (and an
# error past Django) as the JSON envelope with the service's headers: ecm_admin/gunicorn_workers.py.
worker_class = (
    "ecm_admin.gunicorn_workers.ThreadWorker"
    if threads > 1
    else "ecm_admin.gunicorn_workers.SyncWorker"
)

# What a request may send before the application sees it (README, "Request limits"):
# gunicorn's own defaults, stated here because the README documents them. Longer: 414 or 431.
limit_request_line = 4094  # bytes: method, path with query string, HTTP version
limit_request_fields = 100  # header fields
limit_request_field_size = 8190  # bytes per header line, its line break included

timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)

# The application is imported once, in the master, and the workers fork with it (ecm_admin/wsgi.py
# also imports the views): a worker, and one started to replace a recycled one, serves its first
# request warm, and the workers share those memory pages. Code changes need a restart (not HUP).
preload_app = True


def when_ready(server):
    """Before the first fork: the objects loaded so far (modules, settings, URL patterns) are
    long-lived; frozen, the workers' garbage collections skip them (and do not write to those
    shared pages)."""
    import gc

    gc.collect()
    gc.freeze()


# Recycle workers now and then so a slow leak cannot grow without bound; the jitter keeps
# them from all restarting at the same moment.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# Heartbeat files on tmpfs: an overlay or network file system can stall workers.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Logs go to stdout/stderr for the process manager or container runtime to collect.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "").strip().lower() or "info"
# %(U)s is the path without the query string; %(M)s the duration in milliseconds.
# Deliberately absent: %(r)s and %(q)s (query string), %(f)s (referer), %(h)s (client address).
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(M)sms'

# Do not trust X-Forwarded-* from anyone but a local proxy unless told otherwise.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

proc_name = "ecm-admin"

# Gunicorn's runtime control socket (gunicornc) is off unless a path is given: by default it
# would be created under $HOME, which is read-only for the container's user.
if os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip():
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"].strip()
else:
    control_socket_disable = True
