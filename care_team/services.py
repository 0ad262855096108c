"""Every change to a patient's care team (primary provider, oLCM, iLCM).

One core does the work for a single assignment, a removal, the bulk route, the CSV command
and the Django admin, so every change records the same history entry and activity:

1. lock the affected ECM patients (one ``SELECT ... FOR UPDATE``, ordered by id so that
   concurrent writers cannot deadlock), then take the time every row written is stamped with
   (after the locks: see ``LockedCareTeams``), then read their case loads and every
   referenced user with its roles (one query each: ``care_team.locked_reads``);
2. check and apply each item in memory, in input order;
3. write with bulk statements: new case loads, changed case loads, history, activities
   (history and activities are append-only: built as plain rows, not model instances, and
   copied in with ``COPY`` on PostgreSQL, see ``ecm_admin.db``).

The number of queries does not depend on the number of items (on SQLite, Django splits bulk
statements into batches of 999 parameters, so very large writes take a few more; a bulk
assignment on PostgreSQL updates the changed case loads with one statement per set of roles
changed, at most seven).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import APIException

from accounts.models import User
from care_team.choices import LCM_ROLES, CareTeamRole
from care_team.locked_reads import (
    CASE_LOAD_USERS,
    attach_users,
    case_loads_by_patient,
    lock_ecm_patients,
    users_with_roles,
)
from care_team.models import CaseLoad, LcmAssignmentHistory
from ecm_admin.db import bulk_update_rows, copy_insert, updates_read_named_fields_only
from ecm_admin.exceptions import NotFound, UnprocessableEntity
from patients.choices import ActivityKind
from patients.models import Activity
from patients.services import ACTIVITY_FIELDS, activity_row, actor_name

MAX_REASON_LENGTH = 1000
MAX_BULK_ITEMS = 1000
DEFAULT_ACTOR_NAME = "System"

PATIENT_NOT_FOUND = "Patient not found"
LCM_REQUIRED = "At least one of olcm_user_id or ilcm_user_id must be provided"
ROLE_INVALID = "role must be one of: olcm, ilcm"
REASON_TOO_LONG = f"reason must be at most {MAX_REASON_LENGTH} characters"
NOT_APPLIED = "Not applied: the request is atomic and another item failed"
CARE_TEAM_CHANGED = "Care team changed since the plan was made"

_CASE_LOAD_FIELDS = [
    "provider",
    "olcm",
    "ilcm",
    "provider_assigned_at",
    "olcm_assigned_at",
    "ilcm_assigned_at",
    "updated_at",
]
# Every column of a new case load but its id (a bulk write inserts them with COPY).
_NEW_CASE_LOAD_FIELDS = (
    "patient_id",
    "provider_id",
    "olcm_id",
    "ilcm_id",
    "provider_assigned_at",
    "olcm_assigned_at",
    "ilcm_assigned_at",
    "created_at",
    "updated_at",
)
HISTORY_FIELDS = (
    "patient_id",
    "role",
    "previous_user_id",
    "new_user_id",
    "acted_by_id",
    "acted_by_name",
    "reason",
    "created_at",
)


@dataclass(frozen=True)
class Assignment:
    """One requested care-team change; a role given as ``None`` is left as it is."""

    patient_id: int
    olcm_user_id: int | None = None
    ilcm_user_id: int | None = None
    provider_id: int | None = None
    reason: str = ""
    # A precondition: (role, user id or None) the patient's care team must still hold (a
    # planned move applies only to the care team it was planned from). Nor does such an item
    # give one role to the person now holding the other (``CARE_TEAM_DISTINCT_ROLES``): the
    # plan kept the other role's holder out, so that role has changed since.
    expected: tuple[tuple[str, int | None], ...] = ()

    def roles(self) -> list[tuple[str, int]]:
        """``(role, user id)`` for every role this item sets, in the order they are applied."""
        wanted = [
            (CareTeamRole.OLCM, self.olcm_user_id),
            (CareTeamRole.ILCM, self.ilcm_user_id),
            (CareTeamRole.PROVIDER, self.provider_id),
        ]
        return [(str(role), user_id) for role, user_id in wanted if user_id is not None]


@dataclass(frozen=True)
class InvalidItem:
    """An item its caller could not read (wrong types, unknown keys): it fails with these."""

    errors: tuple[str, ...]


@dataclass(frozen=True)
class BulkResult:
    """Per-item errors in input order (an empty list means success)."""

    errors: list[list[str]]
    invalid_count: int
    written: bool

    @property
    def successful_count(self) -> int:
        return sum(1 for errors in self.errors if not errors)

    @property
    def failed_count(self) -> int:
        return len(self.errors) - self.successful_count


def _error_sentences(exc: APIException) -> list[str]:
    if isinstance(exc, UnprocessableEntity):
        return exc.errors
    return [str(exc.detail)]


class LockedCareTeams:
    """The write core: the care teams of the patients one operation names, locked and read,
    the changes it makes to them in memory (``check``, ``apply``, ``set_role``), and their
    writing in bulk statements (``save``)."""

    def __init__(
        self,
        *,
        patient_ids: Iterable[int],
        user_ids: Iterable[int],
        actor: User | None,
        default_actor_name: str,
        bulk: bool = False,
    ):
        """``bulk``: many items, whose results are errors only: the patients are locked
        without being loaded (``patients`` maps their ids to ``None``)."""
        self.actor = actor
        self.bulk = bulk
        self.default_actor_name = default_actor_name
        self.acted_by_name = actor_name(actor, default_actor_name)
        self.patients = lock_ecm_patients(set(patient_ids), load=not bulk)
        # The time of every row this operation writes, read once the locks are held: a writer
        # that waited for another one's lock reads it after that one committed, so the
        # patient's history and activities are in the same order by time as by id.
        self.now = timezone.now()
        # Bulk on PostgreSQL: the case loads' time stamps are not read (an aware datetime costs
        # more to load than the rest of the row); a write sets those of the roles it changes.
        self.stamps_unread = bulk and updates_read_named_fields_only()
        self.case_loads = case_loads_by_patient(self.patients, stamps=not self.stamps_unread)
        # The users the items name and those the case loads hold (one query for both).
        held = {
            user_id
            for case_load in self.case_loads.values()
            for role in CASE_LOAD_USERS
            if (user_id := getattr(case_load, f"{role}_id")) is not None
        }
        self.users = users_with_roles(set(user_ids) | held)
        for case_load in self.case_loads.values():
            attach_users(case_load, self.users)
        self.created: list[CaseLoad] = []
        self.changed: dict[int, CaseLoad] = {}
        self.changed_roles: dict[int, set[str]] = {}  # by case load id
        self.history: list[tuple] = []  # rows in HISTORY_FIELDS order
        self.activities: list[tuple] = []  # rows in ACTIVITY_FIELDS order

    def check(self, item: Assignment) -> APIException | None:
        """The first failing rule, in the contract's order, or ``None``."""
        if item.patient_id not in self.patients:
            return NotFound(PATIENT_NOT_FOUND)
        if item.olcm_user_id is None and item.ilcm_user_id is None:
            return UnprocessableEntity(LCM_REQUIRED)
        if item.expected:
            case_load = self.case_loads.get(item.patient_id)
            holders = {
                role: getattr(case_load, f"{role}_id", None) if case_load else None
                for role, _ in item.expected
            }
            if any(holders[role] != user_id for role, user_id in item.expected):
                return UnprocessableEntity(CARE_TEAM_CHANGED)
            if settings.CARE_TEAM_DISTINCT_ROLES and self._one_person_both(item, case_load):
                return UnprocessableEntity(CARE_TEAM_CHANGED)
        errors = []
        for role, user_id in item.roles():
            user = self.users.get(user_id)
            if role == CareTeamRole.PROVIDER:
                if not (user and user.is_active and user.is_provider):
                    errors.append(f"provider_id {user_id} is not an active provider")
            elif not (user and user.is_active and user.is_lcm):
                errors.append(f"{role}_user_id {user_id} is not an active Lead Care Manager")
        if len(item.reason) > MAX_REASON_LENGTH:
            errors.append(REASON_TOO_LONG)
        return UnprocessableEntity(errors) if errors else None

    @staticmethod
    def _one_person_both(item: Assignment, case_load: CaseLoad | None) -> bool:
        """Whether ``item`` gives one role to the person who now holds the other, which it
        leaves as it is."""
        olcm, ilcm = item.olcm_user_id, item.ilcm_user_id
        if (olcm is None) == (ilcm is None):
            return False
        if olcm is not None:
            return getattr(case_load, "ilcm_id", None) == olcm
        return getattr(case_load, "olcm_id", None) == ilcm

    def apply(self, item: Assignment) -> CaseLoad:
        case_load = self.case_loads.get(item.patient_id)
        if case_load is None:
            case_load = CaseLoad(
                patient_id=item.patient_id, created_at=self.now, updated_at=self.now
            )
            if (patient := self.patients[item.patient_id]) is not None:
                case_load.patient = patient
            self.case_loads[item.patient_id] = case_load
            self.created.append(case_load)
        for role, user_id in item.roles():
            self.set_role(case_load, role, self.users[user_id], item.reason)
        return case_load

    def set_role(self, case_load: CaseLoad, role: str, user: User | None, reason: str) -> None:
        """Point ``role`` at ``user`` (``None`` removes it); the same user changes nothing."""
        previous = getattr(case_load, role)
        if getattr(previous, "pk", None) == getattr(user, "pk", None):
            return
        self.history.append(
            (
                case_load.patient_id,
                role,
                getattr(previous, "pk", None),
                getattr(user, "pk", None),
                getattr(self.actor, "pk", None),
                self.acted_by_name,
                reason,
                self.now,
            )
        )
        self.activities.append(self._activity(case_load, role, previous, user, reason))
        setattr(case_load, role, user)
        setattr(case_load, f"{role}_assigned_at", self.now if user else None)
        case_load.updated_at = self.now
        if case_load.pk is not None:
            self.changed[case_load.pk] = case_load
            self.changed_roles.setdefault(case_load.pk, set()).add(role)

    def _activity(
        self, case_load: CaseLoad, role: str, previous: User | None, user: User | None, reason
    ) -> tuple:
        label = CareTeamRole(role).label
        if user is None:
            kind = ActivityKind.LCM_REMOVED
            description = f"{label} removed: {_display(previous)}"
        else:
            kind = (
                ActivityKind.PROVIDER_ASSIGNED
                if role == CareTeamRole.PROVIDER
                else ActivityKind.LCM_ASSIGNED
            )
            description = f"{label} assigned: {_display(user)}"
            if previous is not None:
                description += f" (previously {_display(previous)})"
        if reason:
            description += f". Reason: {reason}"
        return activity_row(
            patient_id=case_load.patient_id,
            kind=kind,
            description=description,
            actor=self.actor,
            default_actor_name=self.default_actor_name,
            metadata={
                "role": role,
                "previous_user_id": getattr(previous, "pk", None),
                "new_user_id": getattr(user, "pk", None),
                "reason": reason,
            },
            at=self.now,
        )

    def save(self) -> None:
        if self.created and self.bulk:
            # A bulk write's results are errors only: nothing reads the new case loads' ids,
            # so they go in with COPY, without the ORM's cost per row (a third of a fill's).
            rows = (
                tuple(getattr(case_load, name) for name in _NEW_CASE_LOAD_FIELDS)
                for case_load in self.created
            )
            copy_insert(CaseLoad, _NEW_CASE_LOAD_FIELDS, rows)
        elif self.created:
            CaseLoad.objects.bulk_create(self.created)
        if self.changed and not self.stamps_unread:
            bulk_update_rows(list(self.changed.values()), _CASE_LOAD_FIELDS)
        elif self.changed:
            # Only the roles that changed and their time stamps (the others were not read):
            # one statement per set of changed roles, at most seven.
            groups: dict[tuple[str, ...], list[CaseLoad]] = {}
            for pk, case_load in self.changed.items():
                roles = tuple(role for role in CASE_LOAD_USERS if role in self.changed_roles[pk])
                groups.setdefault(roles, []).append(case_load)
            for roles, case_loads in groups.items():
                stamps = [f"{role}_assigned_at" for role in roles]
                bulk_update_rows(case_loads, [*roles, *stamps, "updated_at"])
        if self.history:
            copy_insert(LcmAssignmentHistory, HISTORY_FIELDS, self.history)
        if self.activities:
            copy_insert(Activity, ACTIVITY_FIELDS, self.activities)


def _display(user: User | None) -> str:
    return (user.name or user.email) if user is not None else "nobody"


def _user_ids(items: Iterable[Assignment]) -> set[int]:
    return {user_id for item in items for _, user_id in item.roles()}


@transaction.atomic
def care_team_assign(
    *,
    patient_id: int,
    olcm_user_id: int | None = None,
    ilcm_user_id: int | None = None,
    provider_id: int | None = None,
    actor: User | None,
    reason: str = "",
) -> CaseLoad:
    """Assign the oLCM and/or iLCM (and optionally the primary provider) of an ECM patient.

    Creates the case load when the patient has none. Each role that actually changes records
    one history entry and one activity and resets that role's ``*_assigned_at``.
    Raises ``NotFound`` ("Patient not found") or ``UnprocessableEntity`` with the contract's
    sentences; nothing is written then. Returns the case load with patient and users loaded.
    """
    item = Assignment(
        patient_id=patient_id,
        olcm_user_id=olcm_user_id,
        ilcm_user_id=ilcm_user_id,
        provider_id=provider_id,
        reason=reason,
    )
    batch = LockedCareTeams(
        patient_ids=[patient_id],
        user_ids=_user_ids([item]),
        actor=actor,
        default_actor_name=DEFAULT_ACTOR_NAME,
    )
    problem = batch.check(item)
    if problem is not None:
        raise problem
    case_load = batch.apply(item)
    batch.save()
    return case_load


@transaction.atomic
def care_team_unassign(
    *, patient_id: int, role: str, actor: User | None, reason: str = ""
) -> CaseLoad:
    """Unassign the patient's oLCM or iLCM (``role`` is ``"olcm"`` or ``"ilcm"``).

    Raises 422 for a bad role or reason, 404 "Patient not found", or 404
    "Patient has no oLCM assigned" (iLCM) when that role is empty.
    """
    if role not in LCM_ROLES:
        raise UnprocessableEntity(ROLE_INVALID)
    if len(reason) > MAX_REASON_LENGTH:
        raise UnprocessableEntity(REASON_TOO_LONG)
    batch = LockedCareTeams(
        patient_ids=[patient_id], user_ids=[], actor=actor, default_actor_name=DEFAULT_ACTOR_NAME
    )
    if patient_id not in batch.patients:
        raise NotFound(PATIENT_NOT_FOUND)
    case_load = batch.case_loads.get(patient_id)
    if case_load is None or getattr(case_load, f"{role}_id") is None:
        raise NotFound(f"Patient has no {CareTeamRole(role).label} assigned")
    batch.set_role(case_load, role, None, reason)
    batch.save()
    return case_load


@transaction.atomic
def care_team_bulk_assign(
    *,
    assignments: Sequence[Assignment | InvalidItem],
    actor: User | None,
    default_actor_name: str = DEFAULT_ACTOR_NAME,
    atomic: bool = False,
    dry_run: bool = False,
) -> BulkResult:
    """Apply up to ``MAX_BULK_ITEMS`` assignments in order, each by the single-assign rules.

    Items succeed or fail on their own (a failed item changes nothing); the same patient
    twice: the later item wins and both changes are recorded in order. ``atomic``: any failure
    writes nothing and every other item reports ``NOT_APPLIED``. ``dry_run``: check only.
    """
    if len(assignments) > MAX_BULK_ITEMS:
        raise UnprocessableEntity(f"assignments must have at most {MAX_BULK_ITEMS} items")
    valid = [item for item in assignments if isinstance(item, Assignment)]
    batch = LockedCareTeams(
        patient_ids=[item.patient_id for item in valid],
        user_ids=_user_ids(valid),
        actor=actor,
        default_actor_name=default_actor_name,
        bulk=True,
    )
    errors: list[list[str]] = []
    for item in assignments:
        if isinstance(item, InvalidItem):
            errors.append(list(item.errors))
            continue
        problem = batch.check(item)
        if problem is not None:
            errors.append(_error_sentences(problem))
            continue
        batch.apply(item)
        errors.append([])
    invalid_count = sum(1 for item_errors in errors if item_errors)
    if atomic and invalid_count:
        errors = [item_errors or [NOT_APPLIED] for item_errors in errors]
        return BulkResult(errors=errors, invalid_count=invalid_count, written=False)
    if not dry_run:
        batch.save()
    return BulkResult(errors=errors, invalid_count=invalid_count, written=not dry_run)
