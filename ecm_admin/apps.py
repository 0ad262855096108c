from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class EcmAdminConfig(AppConfig):
    """The project's own app (``"ecm_admin"`` in ``INSTALLED_APPS``)."""

    default = True
    name = "ecm_admin"
    verbose_name = "ECM Admin"

    def ready(self) -> None:
        from ecm_admin.db import register_lookups

        register_lookups()


class AdminConfig(admin_apps.AdminConfig):
    """The Django admin (``"ecm_admin.apps.AdminConfig"`` in ``INSTALLED_APPS``), with this
    project's site as ``admin.site``."""

    default = False
    default_site = "ecm_admin.admin_site.EcmAdminSite"
