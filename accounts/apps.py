from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts and API tokens"

    def ready(self):
        from django.core import checks

        from accounts.counters import check_store

        checks.register(check_store, checks.Tags.security)
