import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecm_admin.settings")

application = get_wsgi_application()


def _import_what_the_first_request_would() -> None:
    """The URLconf (every app's views, serializers and schema) and the REST framework's
    classes, imported now: otherwise the first request of each worker imports them. Under
    gunicorn (``preload_app``) this runs once, in the master, before the workers fork."""
    from django.urls import get_resolver
    from rest_framework.settings import api_settings

    get_resolver().url_patterns  # noqa: B018  (the property imports the URLconf)
    for name in api_settings.defaults:
        getattr(api_settings, name)


_import_what_the_first_request_would()
