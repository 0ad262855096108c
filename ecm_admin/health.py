"""``GET /healthz``: a public liveness and readiness probe for load balancers and compose.

It answers ``{"status": "ok"}`` once the database has answered ``SELECT 1``, and 503 (JSON,
with ``Retry-After``) when it cannot be reached. It needs no token and tells nothing about the
data. Wired in ``ecm_admin.urls`` with ``path("", include("ecm_admin.health"))``.
"""

import logging

from django.db import DatabaseError, connection
from django.urls import re_path
from rest_framework.response import Response
from rest_framework.views import APIView

from ecm_admin.exceptions import DATABASE_UNAVAILABLE, DB_RETRY_AFTER_SECONDS

logger = logging.getLogger("ecm_admin.health")

NO_STORE = {"Cache-Control": "no-store"}


def ping_database() -> None:
    """Raise a ``DatabaseError`` unless the database answers a trivial query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


class HealthView(APIView):
    # Public on purpose: the global defaults require an admin token.
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def get(self, request):
        try:
            ping_database()
        except DatabaseError as exc:
            logger.warning("health check: database unavailable (%s)", type(exc).__name__)
            return Response(
                {"status": "unavailable", "errors": [DATABASE_UNAVAILABLE]},
                status=503,
                headers={**NO_STORE, "Retry-After": str(DB_RETRY_AFTER_SECONDS)},
            )
        return Response({"status": "ok"}, headers=NO_STORE)


healthz = HealthView.as_view()

urlpatterns = [
    re_path(r"^healthz/?$", healthz, name="healthz"),
]
