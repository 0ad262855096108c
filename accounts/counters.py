"""Where the abuse limits count (see ``accounts.throttling`` for what they count).

A counter has a key, a number of hits and the end of its window: the first hit opens a window
of the given length, later hits in it add one, and the first hit after it has ended opens a
new one (fixed windows that start at a key's first hit, not at the top of the minute). Every
operation on a set of keys is atomic, so concurrent requests in any number of processes and
instances count each hit once.

The store is chosen by ``CACHE_URL`` (settings: ``ABUSE_COUNTER_STORE``):

- ``DatabaseCounters`` (the default): the table ``accounts_abusecounter``, one statement per
  operation (``INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING``, on PostgreSQL and on
  SQLite 3.35+). On PostgreSQL the table is UNLOGGED: a commit that wrote only counters waits
  for no disk flush, and a crash forgets counts, nothing else. Windows that have ended are
  deleted by the first window a process opens after ``CLEANUP_SECONDS`` (one DELETE on the
  ``window_end`` index), so the table holds about one row per active token, address and email.
- ``RedisCounters`` (``redis://``): Redis through Django's Redis cache backend, one MULTI/EXEC
  (or script) per operation; keys expire with their windows.
- ``MemoryCounters`` (``locmem://``): this process's memory; each gunicorn worker counts on its
  own. For a single process, and tests.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from rest_framework import exceptions, status

logger = logging.getLogger("accounts.counters")

KEY_PREFIX = "abuse:"
CLEANUP_SECONDS = 300
UNAVAILABLE = "Service temporarily unavailable; try again later"


@dataclass(frozen=True)
class Count:
    hits: int
    window_end: float  # seconds since the epoch

    def seconds_left(self, now: float | None = None) -> float:
        """Until the window ends: at least one second (what ``Retry-After`` says)."""
        return max(1.0, math.ceil(self.window_end - (time.time() if now is None else now)))


class CountersUnavailable(exceptions.APIException):
    """503: the counter store (Redis) does not answer; limits cannot be checked."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = UNAVAILABLE
    default_code = "counters_unavailable"


class Counters(ABC):
    """The operations the limits need. Keys are short ASCII strings (``KEY_PREFIX`` ...)."""

    @abstractmethod
    def hit(self, keys: Sequence[str], window: float) -> dict[str, Count]:
        """One hit on each key (a window of ``window`` seconds opens where none is running);
        the counts including this hit."""

    @abstractmethod
    def peek(self, keys: Sequence[str]) -> dict[str, Count]:
        """The running counts of these keys (keys without a running window are left out)."""

    @abstractmethod
    def take_back(self, keys: Sequence[str] = (), *, reset: Sequence[str] = ()) -> None:
        """One hit less on each of ``keys`` (never below zero; the window runs on); the
        counts of ``reset`` cleared and their windows ended."""

    @abstractmethod
    def remember(self, key: str, seconds: float) -> None:
        """A marker: ``key`` holds one hit for the next ``seconds`` (renewed if it exists)."""

    @abstractmethod
    def clear(self) -> None:
        """Forget every count of this store."""


# --- the database --------------------------------------------------------------------------


class DatabaseCounters(Counters):
    """The table ``accounts_abusecounter`` (``accounts.models.AbuseCounter``)."""

    TABLE = "accounts_abusecounter"

    def __init__(self) -> None:
        self.last_cleanup = 0.0  # time.monotonic() of the last DELETE of ended windows

    def hit(self, keys, window):
        now = time.time()
        # Rows are locked in the order of VALUES: in key order, so that two statements on
        # the same keys cannot wait for each other.
        keys = sorted(keys)
        rows = ", ".join(["(%s, 1, %s)"] * len(keys))
        params: list = []
        for key in keys:
            params += [key, now + window]
        t = self.TABLE
        sql = (
            f'INSERT INTO {t} ("key", hits, window_end) VALUES {rows}'
            f' ON CONFLICT ("key") DO UPDATE SET'
            f" hits = CASE WHEN {t}.window_end <= %s THEN 1 ELSE {t}.hits + 1 END,"
            f" window_end = CASE WHEN {t}.window_end <= %s THEN excluded.window_end"
            f" ELSE {t}.window_end END"
            f' RETURNING "key", hits, window_end'
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, now, now])
            counts = {key: Count(hits, end) for key, hits, end in cursor.fetchall()}
        if any(count.hits == 1 for count in counts.values()):
            self._clean_up(now)
        return counts

    def _clean_up(self, now: float) -> None:
        """A window opened: at most once per ``CLEANUP_SECONDS`` in this process, the rows whose
        window has ended are deleted (new keys, such as an attacker's addresses or emails,
        otherwise accumulate)."""
        if time.monotonic() - self.last_cleanup < CLEANUP_SECONDS:
            return
        self.last_cleanup = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.TABLE} WHERE window_end <= %s", [now])

    def peek(self, keys):
        if not keys:
            return {}
        marks = ", ".join(["%s"] * len(keys))
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "key", hits, window_end FROM {self.TABLE}'
                f' WHERE "key" IN ({marks}) AND window_end > %s',
                [*keys, time.time()],
            )
            return {key: Count(hits, end) for key, hits, end in cursor.fetchall()}

    def take_back(self, keys=(), *, reset=()):
        """An upsert too, in key order like ``hit`` (an UPDATE could lock the rows in another
        order). The value inserted says what to do: -1 one hit less, 0 clear; a key without a
        row gets one whose window has already ended, which counts as no row at all."""
        changes = sorted([(key, -1) for key in keys] + [(key, 0) for key in reset])
        if not changes:
            return
        now = time.time()
        rows = ", ".join(["(%s, %s, %s)"] * len(changes))
        params: list = []
        for key, change in changes:
            params += [key, change, now]
        t = self.TABLE
        running = f"{t}.window_end > %s"
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO {t} ("key", hits, window_end) VALUES {rows}'
                f' ON CONFLICT ("key") DO UPDATE SET'
                f" hits = CASE WHEN NOT ({running}) THEN {t}.hits"
                f" WHEN excluded.hits = 0 THEN 0"
                f" WHEN {t}.hits > 0 THEN {t}.hits - 1 ELSE 0 END,"
                f" window_end = CASE WHEN excluded.hits = 0 AND {running}"
                f" THEN excluded.window_end ELSE {t}.window_end END",
                [*params, now, now],
            )

    def remember(self, key, seconds):
        t = self.TABLE
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO {t} ("key", hits, window_end) VALUES (%s, 1, %s)'
                ' ON CONFLICT ("key") DO UPDATE SET hits = 1, window_end = excluded.window_end',
                [key, time.time() + seconds],
            )

    def clear(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.TABLE}")


# --- Redis ---------------------------------------------------------------------------------

# One hit less, never below zero; the key keeps its expiry.
_TAKE_BACK = """
for _, key in ipairs(KEYS) do
  local hits = tonumber(redis.call('GET', key) or '0')
  if hits and hits > 0 then redis.call('DECR', key) end
end
return 0
"""


class RedisCounters(Counters):
    """Redis, through the connection pool of Django's Redis cache backend (``CACHES``); keys
    carry the cache's ``KEY_PREFIX`` and version and expire with their windows."""

    def __init__(self, cache=None) -> None:
        import redis
        from django.core.cache import caches

        self.cache = cache if cache is not None else caches["default"]
        self.errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

    def _client(self):
        # Django's RedisCache keeps its client (and per-process pools) in ``_cache``.
        return self.cache._cache.get_client(write=True)

    def _key(self, key: str) -> str:
        return self.cache.make_and_validate_key(key)

    def _run(self, work):
        try:
            return work(self._client())
        except self.errors as exc:
            logger.error("abuse counters unavailable: %s", type(exc).__name__)
            raise CountersUnavailable() from exc

    def hit(self, keys, window):
        milliseconds = max(1, int(window * 1000))

        def work(client):
            pipe = client.pipeline(transaction=True)
            for key in keys:
                name = self._key(key)
                pipe.set(name, 0, px=milliseconds, nx=True)
                pipe.incr(name)
                pipe.pttl(name)
            return pipe.execute()

        replies = self._run(work)
        now = time.time()
        return {
            key: Count(int(replies[3 * n + 1]), now + max(replies[3 * n + 2], 0) / 1000)
            for n, key in enumerate(keys)
        }

    def peek(self, keys):
        if not keys:
            return {}

        def work(client):
            pipe = client.pipeline(transaction=True)
            for key in keys:
                name = self._key(key)
                pipe.get(name)
                pipe.pttl(name)
            return pipe.execute()

        replies = self._run(work)
        now = time.time()
        counts = {}
        for n, key in enumerate(keys):
            value, ttl = replies[2 * n], replies[2 * n + 1]
            if value is not None and ttl > 0:
                counts[key] = Count(int(value), now + ttl / 1000)
        return counts

    def take_back(self, keys=(), *, reset=()):
        keys, reset = list(keys), list(reset)
        if not keys and not reset:
            return

        def work(client):
            pipe = client.pipeline(transaction=True)
            if keys:
                pipe.eval(_TAKE_BACK, len(keys), *[self._key(key) for key in keys])
            if reset:
                pipe.delete(*[self._key(key) for key in reset])
            pipe.execute()

        self._run(work)

    def remember(self, key, seconds):
        self._run(lambda client: client.set(self._key(key), 1, px=max(1, int(seconds * 1000))))

    def clear(self):
        pattern = self._key(KEY_PREFIX + "*")

        def work(client):
            names = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(names), 1000):
                client.delete(*names[start : start + 1000])

        self._run(work)


# --- this process ----------------------------------------------------------------------------


class MemoryCounters(Counters):
    """A dictionary of this process, under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, list] = {}

    def _running(self, key: str, now: float) -> list | None:
        entry = self._counts.get(key)
        if entry is not None and entry[1] <= now:
            del self._counts[key]
            return None
        return entry

    def hit(self, keys, window):
        now = time.time()
        counts = {}
        with self._lock:
            for key in keys:
                entry = self._running(key, now)
                if entry is None:
                    entry = self._counts[key] = [0, now + window]
                entry[0] += 1
                counts[key] = Count(entry[0], entry[1])
        return counts

    def peek(self, keys):
        now = time.time()
        with self._lock:
            entries = {key: self._running(key, now) for key in keys}
        return {key: Count(*entry) for key, entry in entries.items() if entry is not None}

    def take_back(self, keys=(), *, reset=()):
        now = time.time()
        with self._lock:
            for key in keys:
                entry = self._running(key, now)
                if entry is not None and entry[0] > 0:
                    entry[0] -= 1
            for key in reset:
                self._counts.pop(key, None)

    def remember(self, key, seconds):
        with self._lock:
            self._counts[key] = [1, time.time() + seconds]

    def clear(self):
        with self._lock:
            self._counts.clear()


# --- the store in use --------------------------------------------------------------------------

STORES = {"database": DatabaseCounters, "redis": RedisCounters, "memory": MemoryCounters}
_store: Counters | None = None
_store_lock = threading.Lock()


def store() -> Counters:
    """The store ``settings.ABUSE_COUNTER_STORE`` names, made once per process."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                kind = getattr(settings, "ABUSE_COUNTER_STORE", "database")
                if kind == "memory":
                    logger.warning(
                        "abuse counters in process memory (CACHE_URL=locmem://): each worker"
                        " counts on its own, so the limits are multiplied by the number of"
                        " worker processes"
                    )
                _store = STORES[kind]()
    return _store


def check_store(app_configs=None, **kwargs):
    """A system check: counters in process memory do not hold across gunicorn workers."""
    from django.core import checks

    if getattr(settings, "ABUSE_COUNTER_STORE", "database") != "memory":
        return []
    return [
        checks.Warning(
            "CACHE_URL=locmem://: the abuse counters live in each process's memory, so with "
            "several gunicorn workers (or instances) every limit is multiplied by their number.",
            hint="Leave CACHE_URL empty (counters in the database) or use redis://HOST:6379/0.",
            id="accounts.W001",
        )
    ]
