"""The pages that serve the OpenAPI document (public, no token, no data).

- ``GET /v1/admin/clinic/ecm/openapi.json`` and ``openapi.yaml``: the schema;
- ``GET /v1/admin/clinic/ecm/docs``: Swagger UI, its assets from the pinned
  ``drf-spectacular-sidecar`` package under ``/static/`` (served by WhiteNoise), so the page
  works without any CDN.

The document is built from the views' own annotations (``@extend_schema`` beside each
method); what they share is in ``ecm_admin.openapi``.
"""

from django.http import JsonResponse
from django.urls import re_path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularSwaggerView,
    SpectacularYAMLAPIView,
)
from rest_framework.permissions import AllowAny

from ecm_admin.routers import API_PREFIX


class _Public:
    """The schema and the documentation pages need no token and show no data."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []


class SchemaJsonView(_Public, SpectacularJSONAPIView):
    pass


class SchemaYamlView(_Public, SpectacularYAMLAPIView):
    pass


class SwaggerView(_Public, SpectacularSwaggerView):
    url_name = "openapi-json"

    def options(self, request, *args, **kwargs):
        # The page renders an HTML template, which DRF's OPTIONS metadata has not: JSON.
        return JsonResponse(self.metadata_class().determine_metadata(request, self))


urlpatterns = [
    re_path(rf"^{API_PREFIX}openapi\.json$", SchemaJsonView.as_view(), name="openapi-json"),
    re_path(rf"^{API_PREFIX}openapi\.yaml$", SchemaYamlView.as_view(), name="openapi-yaml"),
    re_path(rf"^{API_PREFIX}docs/?$", SwaggerView.as_view(), name="openapi-docs"),
]
