"""The abuse counter stores (accounts.counters): the same behaviour from the database, Redis
and process memory, atomic under concurrency, and the database table kept cheap."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from accounts import counters
from accounts.models import AbuseCounter

pytestmark = [pytest.mark.limits, pytest.mark.django_db]

KEY, OTHER = "abuse:test:one", "abuse:test:two"


@pytest.fixture(params=["database", "memory", "redis"])
def store(request):
    kind = request.param
    if kind == "database":
        made = counters.DatabaseCounters()
        made.last_cleanup = time.monotonic()
        yield made
    elif kind == "memory":
        yield counters.MemoryCounters()
    else:
        if settings.ABUSE_COUNTER_STORE != "redis":
            pytest.skip("Redis store: run with CACHE_URL=redis://HOST:6379/N (CI does)")
        made = counters.RedisCounters()
        made.clear()
        yield made
        made.clear()


def test_hits_count_in_a_window_that_opens_at_the_first(store):
    before = time.time()
    first = store.hit([KEY], 60)[KEY]
    assert first.hits == 1
    assert before + 59 <= first.window_end <= time.time() + 60.5
    second = store.hit([KEY, OTHER], 60)
    assert second[KEY].hits == 2 and second[OTHER].hits == 1
    assert abs(second[KEY].window_end - first.window_end) < 0.5
    assert 59 <= second[KEY].seconds_left() <= 60


def test_a_new_window_opens_when_the_last_has_ended(store):
    store.hit([KEY], 0.3)
    store.hit([KEY], 0.3)
    assert store.peek([KEY])[KEY].hits == 2
    time.sleep(0.4)
    assert store.peek([KEY]) == {}
    assert store.hit([KEY], 0.3)[KEY].hits == 1


def test_take_back_and_reset(store):
    for _ in range(3):
        store.hit([KEY, OTHER], 60)
    store.take_back([KEY])
    assert store.peek([KEY])[KEY].hits == 2
    store.take_back([KEY], reset=[OTHER])
    assert set(store.peek([KEY, OTHER])) == {KEY}
    assert store.peek([KEY])[KEY].hits == 1
    store.take_back([KEY])
    store.take_back([KEY])  # never below zero
    assert store.hit([KEY], 60)[KEY].hits == 1
    assert store.hit([OTHER], 60)[OTHER].hits == 1  # its window was ended
    # Keys without a count stay without one.
    store.take_back(["abuse:test:none"], reset=["abuse:test:never"])
    assert store.peek(["abuse:test:none", "abuse:test:never"]) == {}
    assert store.hit(["abuse:test:none"], 60)["abuse:test:none"].hits == 1


def test_remember(store):
    store.remember(KEY, 100)
    marker = store.peek([KEY])[KEY]
    assert marker.hits == 1 and 99 <= marker.seconds_left() <= 100
    store.remember(KEY, 0.2)
    time.sleep(0.3)
    assert store.peek([KEY]) == {}


def test_clear(store):
    store.hit([KEY, OTHER], 60)
    store.clear()
    assert store.peek([KEY, OTHER]) == {}


def test_seconds_left_is_at_least_one():
    assert counters.Count(5, time.time() - 10).seconds_left() == 1
    assert counters.Count(5, 1000.2).seconds_left(now=990) == 11


# --- concurrency ----------------------------------------------------------------------------


def hammer(store, threads=8, each=25) -> list[int]:
    seen: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work():
        start.wait()
        try:
            for _ in range(each):
                hits = store.hit([KEY], 60)[KEY].hits
                with lock:
                    seen.append(hits)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    return seen


def test_memory_hits_are_atomic():
    seen = hammer(counters.MemoryCounters())
    assert sorted(seen) == list(range(1, 201))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_hits_are_atomic_across_connections():
    """Eight connections at once: every hit counted once, each count seen once."""
    seen = hammer(counters.DatabaseCounters())
    assert sorted(seen) == list(range(1, 201))


def test_redis_hits_are_atomic():
    if settings.ABUSE_COUNTER_STORE != "redis":
        pytest.skip("Redis store: run with CACHE_URL=redis://HOST:6379/N (CI does)")
    store = counters.RedisCounters()
    store.clear()
    try:
        assert sorted(hammer(store)) == list(range(1, 201))
    finally:
        store.clear()


# --- the database table ------------------------------------------------------------------------


@pytest.mark.django_db
def test_ended_windows_are_deleted_when_a_window_opens():
    store = counters.DatabaseCounters()
    store.last_cleanup = time.monotonic()
    store.hit(["abuse:test:old"], 0.1)
    time.sleep(0.2)
    store.hit([KEY], 60)  # a window opens, but the last clean-up was just now
    assert set(AbuseCounter.objects.values_list("key", flat=True)) == {"abuse:test:old", KEY}
    store.last_cleanup = time.monotonic() - counters.CLEANUP_SECONDS - 1
    store.hit([KEY], 60)  # no window opens: no clean-up
    assert AbuseCounter.objects.count() == 2
    store.hit([OTHER], 60)
    assert set(AbuseCounter.objects.values_list("key", flat=True)) == {KEY, OTHER}


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_table_is_unlogged_with_only_its_two_indexes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relpersistence FROM pg_class WHERE relname = 'accounts_abusecounter'"
        )
        assert cursor.fetchone() == ("u",)
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'accounts_abusecounter'"
            " ORDER BY indexname"
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert len(definitions) == 2, definitions
    assert any("(key)" in d and "UNIQUE" in d for d in definitions)
    assert any("(window_end)" in d for d in definitions)


@pytest.mark.django_db
def test_one_statement_per_hit(django_assert_num_queries):
    store = counters.DatabaseCounters()
    store.last_cleanup = time.monotonic()
    with django_assert_num_queries(1):
        store.hit([KEY, OTHER], 60)
    with django_assert_num_queries(1):
        store.take_back([KEY], reset=[OTHER])


# --- Redis out of reach ------------------------------------------------------------------------


@pytest.fixture
def unreachable_redis(monkeypatch):
    from django.core.cache.backends.redis import RedisCache

    cache = RedisCache(
        "redis://127.0.0.1:9/0",  # the discard port: nothing listens there
        {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}},
    )
    monkeypatch.setattr(counters, "_store", counters.RedisCounters(cache))


@pytest.mark.django_db
def test_requests_get_503_when_redis_does_not_answer(unreachable_redis, admin_client, client):
    response = admin_client.get("/v1/admin/clinic/ecm/patients")
    assert response.status_code == 503
    assert response.json() == {"errors": [counters.UNAVAILABLE]}
    login = client.post("/admin/login/", {"username": "a@example.org", "password": "x"})
    assert login.status_code == 503
    assert login.content.decode() == counters.UNAVAILABLE
