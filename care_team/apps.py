from django.apps import AppConfig


class CareTeamConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "care_team"
    verbose_name = "Care team"
