from django.apps import AppConfig


class AuditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"
    verbose_name = "Access audit"

    def ready(self) -> None:
        from audit import signals  # noqa: F401  (admin sign-in failures)
        from audit.admin_hooks import audit_admin_site
        from ecm_admin.request_context import install_log_record_factory

        install_log_record_factory()
        audit_admin_site()
