from django.db import models


class LcmRole(models.TextChoices):
    OLCM = "olcm", "oLCM"
    ILCM = "ilcm", "iLCM"


class CareTeamRole(models.TextChoices):
    """Roles recorded in the assignment history."""

    OLCM = "olcm", "oLCM"
    ILCM = "ilcm", "iLCM"
    PROVIDER = "provider", "Provider"
