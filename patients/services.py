"""Every write to patient records goes through here (API, Django admin, commands)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from patients.choices import SYSTEM_IMPORT, ActivityKind, MemberRecordStatus
from patients.models import Activity, EcmStatusHistory

if TYPE_CHECKING:
    from accounts.models import User


def actor_name(actor: User | None, default: str = "System") -> str:
    """The name written in history rows: the acting user's name, or ``default``."""
    if actor is None:
        return default
    return actor.name or actor.email


def activity_build(
    *,
    patient_id: int,
    kind: ActivityKind,
    description: str,
    actor: User | None,
    default_actor_name: str = "System",
    metadata: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> Activity:
    """An unsaved Activity (for ``bulk_create`` by set-based writers)."""
    return Activity(
        patient_id=patient_id,
        kind=kind,
        description=description,
        actor=actor,
        actor_name=actor_name(actor, default_actor_name),
        metadata=metadata or {},
        created_at=at or timezone.now(),
    )


def activity_record(**kwargs) -> Activity:
    activity = activity_build(**kwargs)
    activity.save()
    return activity


def status_change_build(
    *,
    patient_id: int,
    previous: str | None,
    status: MemberRecordStatus | str,
    actor: User | None,
    default_actor_name: str = SYSTEM_IMPORT,
    at: dt.datetime | None = None,
) -> tuple[EcmStatusHistory, Activity]:
    """The status-history entry and activity for one status change, unsaved.

    Callers save both in the transaction that changes the status.
    """
    at = at or timezone.now()
    name = actor_name(actor, default_actor_name)
    history = EcmStatusHistory(
        patient_id=patient_id,
        status=status,
        changed_at=at,
        changed_by=name,
        changed_by_user=actor,
    )
    if previous:
        description = f"Member record status changed from {previous} to {status}"
    else:
        description = f"Member record status set to {status}"
    activity = activity_build(
        patient_id=patient_id,
        kind=ActivityKind.STATUS_CHANGED,
        description=description,
        actor=actor,
        default_actor_name=default_actor_name,
        metadata={"from": previous, "to": str(status)},
        at=at,
    )
    return history, activity


def status_change_record(**kwargs) -> tuple[EcmStatusHistory, Activity]:
    history, activity = status_change_build(**kwargs)
    history.save()
    activity.save()
    return history, activity
