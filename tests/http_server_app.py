"""The service's WSGI application as ``tests/test_http_server.py`` serves it with gunicorn,
plus two paths that fail past Django, where only gunicorn can answer: one raises from the
WSGI callable, one hands gunicorn a response header it refuses. Every other path is the
service itself."""

from ecm_admin.wsgi import application as service

RAISE_PATH = "/__test__/raise"
BAD_HEADER_PATH = "/__test__/bad-header"
# Would be PHI in a real failure: neither the response nor the log may repeat it.
SECRET = "Jane-Doe-1961-07-04"


def application(environ, start_response):
    path = environ.get("PATH_INFO")
    if path == RAISE_PATH:
        raise RuntimeError(f"failed past Django for {SECRET}")
    if path == BAD_HEADER_PATH:
        start_response("200 OK", [("X-Patient", f"{SECRET}\x01")])
        return [b"{}"]
    return service(environ, start_response)
