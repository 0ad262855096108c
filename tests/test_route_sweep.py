"""Every route of the root urlconf is locked: anonymous → 401, authenticated without the
admin role → 403, for every method the view answers. So a future route cannot ship open.

Skipped: the Django admin (its own login), and the routes that are public on purpose, listed
here by URL name with the only methods they may answer.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.views import APIView

from ecm_admin.request_context import regex_to_template

pytestmark = pytest.mark.django_db

# URL name → the methods that route may answer without a token (anything more fails here).
PUBLIC = {
    "healthz": {"GET", "HEAD", "OPTIONS"},
    "auth-token-list": {"POST", "OPTIONS"},  # sign in
    # The API description and its viewers (no data in them).
    "openapi-json": {"GET", "HEAD", "OPTIONS"},
    "openapi-yaml": {"GET", "HEAD", "OPTIONS"},
    "openapi-docs": {"GET", "HEAD", "OPTIONS"},
}
# Routes that need a valid token but no particular role (sign out).
ANY_ROLE = {"auth-token-current"}
SKIPPED_PREFIXES = ("admin/",)
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")


def walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def sample_path(route: str) -> str:
    template = regex_to_template(route)
    for name in ("patient_id", "pk", "id", "object_id", "path"):
        template = template.replace("{" + name + "}", "1")
    assert "{" not in template, f"no sample value for {route}"
    return "/" + template


def methods_of(callback) -> set[str]:
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return {"GET", "POST", "PUT", "PATCH", "DELETE"}  # a function view: try them all
    actions = getattr(callback, "actions", None)  # a viewset's route: its methods' actions
    if actions is not None:
        methods = {m.upper() for m in actions}
    else:
        methods = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m)}
    if "GET" in methods:
        methods.add("HEAD")
    if issubclass(view_class, APIView):
        methods.add("OPTIONS")
    return methods


def routes():
    found = []
    for route, pattern in walk(get_resolver().url_patterns):
        if route.startswith(SKIPPED_PREFIXES):
            continue
        found.append((route, pattern))
    return found


ROUTES = routes()


def test_the_sweep_sees_the_api():
    names = {pattern.name for _, pattern in ROUTES}
    assert {"healthz", "auth-token-list", "auth-token-current", "patient-detail"} <= names
    assert len([r for r, _ in ROUTES if "lead_care_managers" in r]) >= 4
    assert len(ROUTES) >= 10


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=[r for r, _ in ROUTES])
def test_route_is_locked(route, pattern, anon_client, viewer_client):
    path = sample_path(route)
    assert resolve(path).func is pattern.callback, f"{path} does not reach {route}"
    if pattern.name in PUBLIC:
        # Public on purpose, but only for its listed methods: any other is refused.
        for method in sorted(set(ALL_METHODS) - PUBLIC[pattern.name]):
            response = anon_client.generic(method, path)
            assert response.status_code == 405, (method, path, response.status_code)
        return
    for method in sorted(methods_of(pattern.callback)):
        anonymous = anon_client.generic(method, path)
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        assert anonymous["WWW-Authenticate"] == "Token"
        if pattern.name in ANY_ROLE:
            continue
        denied = viewer_client.generic(method, path)
        assert denied.status_code == 403, (method, path, denied.status_code)
        if method != "HEAD":
            assert denied.json() == {"errors": ["Admin access required"]}


def test_sign_out_is_open_to_any_role_but_not_to_anonymous(anon_client, viewer_client):
    assert anon_client.delete("/v1/auth/tokens/current").status_code == 401
    assert viewer_client.delete("/v1/auth/tokens/current").status_code == 200
