from django.db import models


class CareTeamRole(models.TextChoices):
    """The roles of a patient's care team (and of its assignment history)."""

    OLCM = "olcm", "oLCM"
    ILCM = "ilcm", "iLCM"
    PROVIDER = "provider", "Provider"


# The Lead Care Manager roles among them (the provider is not one).
LCM_ROLES: tuple[str, ...] = (CareTeamRole.OLCM.value, CareTeamRole.ILCM.value)
