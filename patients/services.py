"""Every write to patient records goes through here (API, Django admin, commands)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound

from ecm_admin.exceptions import UnprocessableEntity
from patients.choices import SYSTEM_IMPORT, ActivityKind, MemberRecordStatus
from patients.models import Activity, EcmEligibilityInformation, EcmStatusHistory, Patient
from patients.rules import DATE_ORDERS, date_of_birth_problem
from patients.selectors import eligibility_by_member_key, member_keys

if TYPE_CHECKING:
    from accounts.models import User


def actor_name(actor: User | None, default: str = "System") -> str:
    """The name written in history rows: the acting user's name, or ``default``."""
    if actor is None:
        return default
    return actor.name or actor.email


# Column order of the rows the ``*_row`` builders return (for ``ecm_admin.db.copy_insert``).
ACTIVITY_FIELDS = (
    "patient_id",
    "kind",
    "description",
    "actor_id",
    "actor_name",
    "metadata",
    "created_at",
)
STATUS_HISTORY_FIELDS = ("patient_id", "status", "changed_at", "changed_by", "changed_by_user_id")


def search_counts_compact() -> None:
    """PostgreSQL: merge the per-term search counts a bulk write left as separate deltas.

    Statements of more than a few rows (an import chunk) add their deltas without merging them
    (migration 0009); the sums stay exact either way, this keeps the table small.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT patients_search_grams_compact()")


def activity_build(**kwargs) -> Activity:
    """An unsaved Activity (for ``bulk_create``): the row ``activity_row`` describes."""
    return _unsaved(Activity, ACTIVITY_FIELDS, activity_row(**kwargs))


def activity_row(
    *,
    patient_id: int,
    kind: ActivityKind,
    description: str,
    actor: User | None,
    default_actor_name: str = "System",
    metadata: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> tuple:
    """An activity as values in ``ACTIVITY_FIELDS`` order.

    For set-based writers: a tuple costs a fraction of a model instance.
    """
    return (
        patient_id,
        str(kind),
        description,
        actor.pk if actor is not None else None,
        actor_name(actor, default_actor_name),
        metadata or {},
        at or timezone.now(),
    )


def _unsaved(model, fields: tuple[str, ...], row: tuple):
    return model(**dict(zip(fields, row, strict=True)))


def activity_record(**kwargs) -> Activity:
    activity = activity_build(**kwargs)
    activity.save()
    return activity


def _status_change_activity(previous: str | None, status: str) -> tuple[str, dict[str, Any]]:
    """The description and metadata of a status change's activity."""
    if previous:
        description = f"Member record status changed from {previous} to {status}"
    else:
        description = f"Member record status set to {status}"
    return description, {"from": previous, "to": str(status)}


def status_change_build(**kwargs) -> tuple[EcmStatusHistory, Activity]:
    """The status-history entry and activity for one status change, unsaved (the rows
    ``status_change_rows`` describes). Callers save both in the transaction that changes
    the status."""
    history, activity = status_change_rows(**kwargs)
    return (
        _unsaved(EcmStatusHistory, STATUS_HISTORY_FIELDS, history),
        _unsaved(Activity, ACTIVITY_FIELDS, activity),
    )


def status_change_rows(
    *,
    patient_id: int,
    previous: str | None,
    status: MemberRecordStatus | str,
    actor: User | None,
    default_actor_name: str = SYSTEM_IMPORT,
    at: dt.datetime | None = None,
) -> tuple[tuple, tuple]:
    """The status-history entry and activity for one status change, as rows in
    ``STATUS_HISTORY_FIELDS`` and ``ACTIVITY_FIELDS`` order (for set-based writers)."""
    at = at or timezone.now()
    history = (
        patient_id,
        str(status),
        at,
        actor_name(actor, default_actor_name),
        actor.pk if actor is not None else None,
    )
    description, metadata = _status_change_activity(previous, status)
    activity = activity_row(
        patient_id=patient_id,
        kind=ActivityKind.STATUS_CHANGED,
        description=description,
        actor=actor,
        default_actor_name=default_actor_name,
        metadata=metadata,
        at=at,
    )
    return history, activity


def status_change_record(**kwargs) -> tuple[EcmStatusHistory, Activity]:
    history, activity = status_change_build(**kwargs)
    history.save()
    activity.save()
    return history, activity


@transaction.atomic
def patient_update(
    *,
    patient_id: int,
    patient_fields: dict[str, Any],
    eligibility_fields: dict[str, Any],
    actor: User | None,
    precondition: Callable[[], None] | None = None,
) -> None:
    """Apply validated changes to an ECM patient and its eligibility information.

    Locks the patient row, checks the rules that need the database (unique member_id, end
    date not before the effective date), writes only what changed, and in the same
    transaction records a status-history entry and an activity when the member record
    status changes, and one activity naming the other changed fields (never their values).
    Raises ``NotFound`` for an unknown or non-ECM patient and ``UnprocessableEntity``.

    ``precondition`` (e.g. the ``If-Match`` check of ``patients.etags``) runs once the row is
    locked and before anything is written; whatever it raises aborts the update.
    """
    patient = (
        Patient.objects.select_for_update()
        .select_related("ecm_eligibility_information")
        .filter(pk=patient_id, ecm_eligibility_information__isnull=False)
        .first()
    )
    if patient is None:
        raise NotFound("Patient not found")
    if precondition is not None:
        precondition()
    eligibility = patient.ecm_eligibility_information

    changed_patient = _assign_changes(patient, patient_fields)
    previous_status = eligibility.member_record_status
    changed_eligibility = _assign_changes(eligibility, eligibility_fields)
    _validate_patient(patient, eligibility, changed_patient, changed_eligibility)

    # Read with the lock held: an update that waited for another writer of this patient reads
    # it after that one committed, so history and activities are in the same order by time as
    # by id.
    now = timezone.now()
    if changed_patient:
        patient.save(update_fields=[*changed_patient, "updated_at"])
    if changed_eligibility:
        try:
            with transaction.atomic():
                eligibility.save(update_fields=[*changed_eligibility, "updated_at"])
        except IntegrityError:
            # A concurrent write took the member_id between our check and the save.
            raise UnprocessableEntity(
                "Validation failed: Member ID has already been taken"
            ) from None

    if "member_record_status" in changed_eligibility:
        status_change_record(
            patient_id=patient.id,
            previous=previous_status,
            status=eligibility.member_record_status,
            actor=actor,
            at=now,
        )
    other_fields = sorted(
        f for f in [*changed_patient, *changed_eligibility] if f != "member_record_status"
    )
    if other_fields:
        activity_record(
            patient_id=patient.id,
            kind=ActivityKind.PATIENT_UPDATED,
            description=f"Patient record updated: {', '.join(other_fields)}",
            actor=actor,
            metadata={"fields": other_fields},
            at=now,
        )


def _assign_changes(instance, values: dict[str, Any]) -> list[str]:
    """Set the attributes that differ; return their names."""
    changed = []
    for attr, value in values.items():
        if getattr(instance, attr) != value:
            setattr(instance, attr, value)
            changed.append(attr)
    return changed


def _validate_patient(patient, eligibility, changed_patient, changed_eligibility) -> None:
    errors = []
    if "date_of_birth" in changed_patient and (
        problem := date_of_birth_problem(patient.date_of_birth)
    ):
        errors.append(problem)
    changed = {attr: getattr(eligibility, attr) for attr in changed_eligibility}
    if problem := DATE_ORDERS[EcmEligibilityInformation].problem_in(changed, eligibility):
        errors.append(problem)
    if (
        "member_id" in changed_eligibility
        and eligibility_by_member_key(member_keys([eligibility.member_id]).values())
        .exclude(pk=eligibility.pk)
        .exists()
    ):
        errors.append("Member ID has already been taken")
    if errors:
        raise UnprocessableEntity([f"Validation failed: {error}" for error in errors])
