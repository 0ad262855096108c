"""A Lead Care Manager's planning settings: capacity and whether they accept patients."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from care_team.models import LeadCareManagerProfile
from care_team.selectors import active_lcms


@transaction.atomic
def lead_care_manager_update(*, user_id: int, changes: dict[str, Any]) -> bool:
    """Set ``capacity`` (``None``: the default) and/or ``accepting_patients`` of an active
    Lead Care Manager; ``False`` when there is no such LCM (nothing is written)."""
    if not active_lcms().filter(pk=user_id).exists():
        return False
    fields = [name for name in ("capacity", "accepting_patients") if name in changes]
    if not fields:
        return True  # nothing asked: nothing written
    profile, _ = LeadCareManagerProfile.objects.select_for_update().get_or_create(user_id=user_id)
    for name in fields:
        setattr(profile, name, changes[name])
    profile.save(update_fields=[*fields, "updated_at"])
    return True
