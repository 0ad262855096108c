"""The deployment files and the two-instance harness's pure pieces (bench/local_stack.py,
bench/proxy_checks.py): the compose file's shape, deploy/nginx.conf kept in step with the
app's settings, its local rendering (and ``nginx -t`` on it when nginx is installed)."""

import re
from collections import Counter

import pytest
import yaml
from django.conf import settings

from bench import local_stack, proxy_checks
from ecm_admin.request_context import SAFE_REQUEST_ID

COMPOSE = local_stack.REPO_ROOT / "docker-compose.yml"
NGINX_TEXT = local_stack.NGINX_CONF.read_text()


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_only_nginx_is_published_and_only_on_loopback(compose):
    published = {name: spec["ports"] for name, spec in compose.items() if spec.get("ports")}
    assert published == {"nginx": ["127.0.0.1:8000:80"]}


def test_nginx_is_the_official_image_at_a_pinned_version_with_the_repository_config(compose):
    nginx = compose["nginx"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+(-alpine)?", nginx["image"])
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert nginx["depends_on"] == {
        "app1": {"condition": "service_healthy"},
        "app2": {"condition": "service_healthy"},
    }


@pytest.mark.parametrize("name", ["app1", "app2"])
def test_instances_trust_one_proxy_share_redis_and_wait_for_one_migration(compose, name):
    app = compose[name]
    assert app["environment"]["TRUSTED_PROXY_COUNT"] == "${TRUSTED_PROXY_COUNT:-1}"
    assert app["environment"]["CACHE_URL"] == "redis://redis:6379/0"
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert app["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert "migrate" not in " ".join(app["command"])
    assert app["healthcheck"]["test"]


def test_migrations_run_in_one_one_shot_service(compose):
    migrating = [name for name, spec in compose.items() if "migrate" in str(spec.get("command"))]
    assert migrating == ["migrate"]
    assert compose["migrate"]["restart"] == "no"
    assert compose["migrate"]["image"] == compose["app1"]["image"] == compose["app2"]["image"]


def test_every_long_running_service_has_a_healthcheck(compose):
    assert {name for name, spec in compose.items() if "healthcheck" not in spec} == {"migrate"}


def _directive(name: str) -> str:
    match = re.search(rf"^\s*{name}\s+([^;]+);", NGINX_TEXT, re.MULTILINE)
    assert match, name
    return match.group(1)


def test_nginx_refuses_exactly_what_the_app_refuses():
    # client_max_body_size 2m = MAX_REQUEST_BODY_BYTES's default (both 2 MiB), and the
    # message nginx answers with names the same limit as the app's.
    assert _directive("client_max_body_size") == "2m"
    assert settings.MAX_REQUEST_BODY_BYTES == 2 * 1024 * 1024 == proxy_checks.MAX_BODY
    assert f"(limit {settings.MAX_REQUEST_BODY_BYTES} bytes)" in NGINX_TEXT
    assert _directive("proxy_request_buffering") == "on"


def test_nginx_passes_the_callers_request_id_by_the_apps_own_rule():
    pattern = re.search(r'"~\^(.+)\$" \$http_x_request_id;', NGINX_TEXT).group(1)
    assert pattern == SAFE_REQUEST_ID.pattern


def test_nginx_forwards_the_client_address_and_scheme():
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in NGINX_TEXT
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in NGINX_TEXT


def test_render_site_moves_only_the_compose_addresses(tmp_path):
    log = tmp_path / "access.log"
    rendered = local_stack.render_site(NGINX_TEXT, [8101, 8102], 8100, log)
    assert "server 127.0.0.1:8101 max_fails" in rendered
    assert "server 127.0.0.1:8102 max_fails" in rendered
    assert "listen 127.0.0.1:8100;" in rendered
    assert f"access_log {log} ecm_access;" in rendered
    assert "app1" not in rendered and "/var/log/nginx" not in rendered
    before, after = NGINX_TEXT.splitlines(), rendered.splitlines()
    assert len(before) == len(after)
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 4


def test_render_site_refuses_a_config_it_does_not_recognise(tmp_path):
    with pytest.raises(ValueError, match="server app2:8000"):
        local_stack.render_site(NGINX_TEXT.replace("app2", "web2"), [1, 2], 3, tmp_path / "a.log")
    doubled = NGINX_TEXT.replace("listen 80;", "listen 80;\n    listen 80;")
    with pytest.raises(ValueError, match="2 times"):
        local_stack.render_site(doubled, [1, 2], 3, tmp_path / "a.log")


@pytest.mark.skipif(local_stack.find_nginx() is None, reason="nginx is not installed")
def test_the_rendered_configuration_passes_nginx_t(tmp_path):
    nginx = local_stack.Nginx(local_stack.find_nginx(), tmp_path, 8100, [8101, 8102])
    assert "syntax is ok" in nginx.test()


def test_upstreams_reads_which_instance_answered(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(
        '2026-01-01T00:00:00+00:00 "GET /healthz" 200 0.003s upstream=127.0.0.1:8101 '
        "upstream_status=200 upstream_time=0.003 request_id=rate-1\n"
        '2026-01-01T00:00:00+00:00 "GET /healthz" 429 0.003s upstream=127.0.0.1:8102 '
        "upstream_status=429 upstream_time=0.003 request_id=rate-2\n"
        '2026-01-01T00:00:00+00:00 "GET /healthz" 502 0.001s upstream=127.0.0.1:8101, '
        "127.0.0.1:8102 upstream_status=502, 502 upstream_time=0.0 request_id=rate-3\n"
        '2026-01-01T00:00:00+00:00 "GET /healthz" 200 0.003s upstream=127.0.0.1:8102 '
        "upstream_status=200 upstream_time=0.003 request_id=other-1\n"
    )
    found = proxy_checks.upstreams(log, "rate-", [8101, 8102])
    assert found == {"app1": Counter({200: 1}), "app2": Counter({429: 1, 502: 1})}


def test_own_error_accepts_only_the_envelope_with_the_security_headers():
    headers = {
        "content-type": ["application/json"],
        "cache-control": ["no-store"],
        "x-content-type-options": ["nosniff"],
        "x-frame-options": ["DENY"],
    }
    good = proxy_checks.Reply(413, headers, b'{"errors": ["Request body is too large"]}', 0.0)
    assert proxy_checks._own_error(good, 413) == []
    doubled = dict(headers, **{"x-frame-options": ["DENY", "DENY"]})
    html = proxy_checks.Reply(413, doubled, b"<html>413</html>", 0.0)
    problems = proxy_checks._own_error(html, 414)
    assert len(problems) == 3  # the status, the body, the doubled header
