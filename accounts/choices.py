from django.db import models


class RoleName(models.TextChoices):
    """Role names with a meaning to the service. Other names are free labels."""

    ADMIN = "admin", "Admin (may call the API)"
    ECM = "ecm", "ECM (may be a Lead Care Manager)"
    PROVIDER = "provider", "Provider (may be a primary provider)"
