import time

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from tests import factories
from tests.openapi_contract import check_response, load_contract


@pytest.fixture
def admin(db):
    return factories.UserFactory(
        roles=["admin"], first_name="Ada", last_name="Admin", email="ada.admin@example.org"
    )


@pytest.fixture
def admin_token(admin):
    return factories.ApiTokenFactory(user=admin)


@pytest.fixture
def admin_client(admin_token):
    """An APIClient sending a real admin token in ``X-User-Token``."""
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=admin_token.raw)
    client.user = admin_token.user
    return client


@pytest.fixture
def viewer_client(db):
    """Authenticated, but without the admin role."""
    user = factories.UserFactory(roles=["ecm"], first_name="Vic", last_name="Viewer")
    token = factories.ApiTokenFactory(user=user)
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=token.raw)
    client.user = user
    return client


@pytest.fixture(autouse=True)
def _fresh_counters():
    """No abuse counter carries over from one test to the next. In the database they go with
    each test's transaction (or the flush after a transactional test); Redis and memory are
    cleared here."""
    from accounts import counters

    store = counters.store()
    if isinstance(store, counters.DatabaseCounters):
        # No clean-up DELETE inside a test that counts its statements.
        store.last_cleanup = time.monotonic()
        yield
        return
    store.clear()
    yield
    store.clear()


@pytest.fixture(autouse=True)
def _responses_match_the_document(request, monkeypatch):
    """Every response a test client (``Client``, ``APIClient``) receives from the API is
    checked against the OpenAPI document: its status is one the operation lists, its body and
    required headers are as documented (``tests.openapi_contract.check_response``).

    A test that deliberately produces a response the document does not describe says so, and
    why: ``@pytest.mark.undocumented_responses(reason="...")``.
    """
    marker = request.node.get_closest_marker("undocumented_responses")
    if marker is not None:
        assert marker.kwargs.get("reason"), "undocumented_responses needs a reason"
        yield
        return
    # Built here, before any request: not in a test's threads (drf-spectacular's generator
    # is not thread-safe), once per process.
    load_contract()
    send = Client.request

    def checked(self, **kwargs):
        response = send(self, **kwargs)
        check_response(response)
        return response

    monkeypatch.setattr(Client, "request", checked)
    yield


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine.endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgresql://...)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)
