"""The eligibility feed: patients and their ECM eligibility, upserted by ``member_id``.

A member id names the member whatever its case: a row whose member id differs only in case
from a stored one updates that member (the stored spelling is kept), and two rows of one
file that differ only in case are the same member twice (the second is reported).

New members and their history are written as plain rows (``COPY`` on PostgreSQL, see
``ecm_admin.db``), not model instances: at 100,000 rows the ORM's per-value work costs more
than the database's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils import timezone

from ecm_admin.csvfiles import Record
from ecm_admin.db import bulk_update_rows, copy_insert, insert_returning_ids
from patients.importers.base import ChunkImporter, Validated
from patients.importers.columns import (
    ELIGIBILITY_COLUMNS,
    PATIENT_COLUMNS,
    Values,
    assign,
    changes,
    model_values,
    present,
)
from patients.importers.report import ImportReport, RowError
from patients.importers.runner import CHUNK_SIZE, run
from patients.models import Activity, EcmEligibilityInformation, EcmStatusHistory, Patient
from patients.rules import DATE_ORDERS, date_of_birth_problem
from patients.selectors import eligibility_by_member_key, member_keys
from patients.services import (
    ACTIVITY_FIELDS,
    STATUS_HISTORY_FIELDS,
    search_counts_compact,
    status_change_rows,
)

# A valid row of the member feed: line, member_id, patient values, eligibility values
# (model attributes; the eligibility values without the member id).
_MemberRow = tuple[int, str, Values, Values]
# (patient id, previous status, new status): one status-history entry and activity each
_StatusChange = tuple[int, str | None, str]


@dataclass
class _MemberChange:
    """One valid row compared with what is stored.

    A new member has no stored rows (``None``) and its changes are all the values it gets.
    """

    member_id: str
    patient: Patient | None
    eligibility: EcmEligibilityInformation | None
    patient_changes: Values
    eligibility_changes: Values

    @property
    def is_new(self) -> bool:
        return self.eligibility is None

    @property
    def changed(self) -> bool:
        return bool(self.patient_changes or self.eligibility_changes)


@dataclass
class _MemberWrites:
    new: list[_MemberChange] = field(default_factory=list)
    patients: list[Patient] = field(default_factory=list)
    eligibilities: list[EcmEligibilityInformation] = field(default_factory=list)
    status_changes: list[_StatusChange] = field(default_factory=list)  # of existing members


class MemberImporter(ChunkImporter):
    columns = PATIENT_COLUMNS + ELIGIBILITY_COLUMNS
    key = "member_id"
    date_order = DATE_ORDERS[EcmEligibilityInformation]

    def __init__(self, header: Sequence[str], dry_run: bool):
        super().__init__(header, dry_run)
        self.patient_columns = present(PATIENT_COLUMNS, header)
        # the member id identifies the row: it is compared and written only for a new member
        self.eligibility_columns = [
            column for column in present(ELIGIBILITY_COLUMNS, header) if column.name != self.key
        ]

    @staticmethod
    def key_of(value: str) -> str:
        return value.upper()

    def row_problems(self, values: Values) -> list[str]:
        problem = date_of_birth_problem(values.get("date_of_birth"), self.today)
        return ([problem] if problem else []) + super().row_problems(values)

    def validate(self, chunk: list[Record]) -> Validated:
        """As for every import, each valid row also split into its patient and eligibility
        values (model attributes): Python work done here, in the thread that validates the next
        chunk while the current one is written."""
        validated = super().validate(chunk)
        split = [
            (
                line,
                values[self.key],
                model_values(values, self.patient_columns),
                model_values(values, self.eligibility_columns),
            )
            for line, values in validated.valid
        ]
        return validated._replace(valid=split)

    def apply(self, valid: list[_MemberRow], outcome: ImportReport) -> None:
        keys = member_keys(row[1] for row in valid)
        existing = self._existing({keys[row[1]] for row in valid})
        compared = {row[1]: self._compare(row, existing.get(keys[row[1]])) for row in valid}
        if not self.dry_run:
            # Re-read the rows about to change under a lock, so no concurrent edit is lost.
            changing = {
                keys[member_id]
                for member_id, change in compared.items()
                if change.changed and not change.is_new
            }
            if changing:
                locked = self._existing(changing, lock=True)
                compared.update(
                    (row[1], self._compare(row, locked.get(keys[row[1]])))
                    for row in valid
                    if keys[row[1]] in changing
                )
        writes = _MemberWrites()
        for line, member_id, _, _ in valid:
            change = compared[member_id]
            if problem := self.date_problem(change.eligibility_changes, change.eligibility):
                outcome.errors.append(RowError(line, problem))
            elif change.is_new:
                writes.new.append(change)
                outcome.created += 1
            elif change.changed:
                self._plan_update(writes, change)
                outcome.updated += 1
            else:
                outcome.unchanged += 1
        if not self.dry_run:
            outcome.patient_ids.extend(self._save(writes))

    @staticmethod
    def _existing(keys: set[str], lock: bool = False) -> dict[str, EcmEligibilityInformation]:
        """The stored eligibility (with its patient) of each member key."""
        if not keys:
            return {}
        rows = eligibility_by_member_key(keys).select_related("patient").order_by("pk")
        if lock:
            rows = rows.select_for_update()
        return {row.member_key: row for row in rows}

    @staticmethod
    def _compare(row: _MemberRow, eligibility: EcmEligibilityInformation | None) -> _MemberChange:
        _, member_id, patient_values, eligibility_values = row
        if eligibility is None:
            return _MemberChange(member_id, None, None, patient_values, eligibility_values)
        return _MemberChange(
            member_id,
            eligibility.patient,
            eligibility,
            changes(eligibility.patient, patient_values),
            changes(eligibility, eligibility_values),
        )

    @staticmethod
    def _plan_update(writes: _MemberWrites, change: _MemberChange) -> None:
        patient, eligibility = change.patient, change.eligibility
        if change.patient_changes:
            assign(patient, change.patient_changes)
            writes.patients.append(patient)
        if change.eligibility_changes:
            previous = eligibility.member_record_status
            assign(eligibility, change.eligibility_changes)
            writes.eligibilities.append(eligibility)
            if "member_record_status" in change.eligibility_changes:
                writes.status_changes.append(
                    (patient.pk, previous, eligibility.member_record_status)
                )

    def _save(self, writes: _MemberWrites) -> list[int]:
        """Write the chunk's changes; the ids of the patients created or changed."""
        now = timezone.now()
        created_ids, statuses = _create(writes.new, now)
        bulk_update_rows(
            writes.patients, [*(c.model_attr for c in self.patient_columns), "updated_at"]
        )
        bulk_update_rows(
            writes.eligibilities,
            [*(c.model_attr for c in self.eligibility_columns), "updated_at"],
        )
        _record_status_changes(statuses + writes.status_changes, now)
        return [
            *created_ids,
            *(patient.pk for patient in writes.patients),
            *(eligibility.patient_id for eligibility in writes.eligibilities),
        ]


def _create(new: list[_MemberChange], now: dt.datetime) -> tuple[list[int], list[_StatusChange]]:
    """Insert the new members' patients and eligibility (the model defaults fill the columns
    the file does not give; ``created_at``/``updated_at`` are ``now``): their patient ids and
    their first status."""
    patient_row = _NewRow(Patient, now, services=["ecm"])
    eligibility_row = _NewRow(EcmEligibilityInformation, now)
    patient_ids = insert_returning_ids(
        Patient, patient_row.fields, [patient_row(c.patient_changes) for c in new]
    )
    eligibilities = [
        eligibility_row(change.eligibility_changes, member_id=change.member_id, patient_id=pk)
        for change, pk in zip(new, patient_ids, strict=True)
    ]
    copy_insert(EcmEligibilityInformation, eligibility_row.fields, eligibilities)
    status = eligibility_row.fields.index("member_record_status")
    statuses = [(pk, None, row[status]) for pk, row in zip(patient_ids, eligibilities, strict=True)]
    return patient_ids, statuses


class _NewRow:
    """Rows of new ``model`` instances: ``fields`` (attribute names, all but the id) in order,
    filled as the model's constructor would fill them, with ``now`` for the time stamps."""

    def __init__(self, model: type[models.Model], now: dt.datetime, **fixed: Any):
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.fields = [f.attname for f in fields]
        self.defaults = {
            f.attname: now
            if getattr(f, "auto_now", False)
            or getattr(f, "auto_now_add", False)
            or f.default is timezone.now
            else f.get_default()
            for f in fields
        }
        self.defaults.update(fixed)
        self._template = [self.defaults[name] for name in self.fields]
        self._position = {name: position for position, name in enumerate(self.fields)}

    def __call__(self, values: Values, **more: Any) -> tuple:
        row = self._template.copy()
        for given in (values, more):
            for attr, value in given.items():
                position = self._position.get(attr)
                if position is not None:  # as before: what is not a column is left out
                    row[position] = value
        return tuple(row)


def _record_status_changes(changes: list[_StatusChange], at: dt.datetime) -> None:
    """One "System Import" status-history entry and activity per (patient, previous, status)."""
    histories: list[tuple] = []
    activities: list[tuple] = []
    for patient_id, previous, status in changes:
        history, activity = status_change_rows(
            patient_id=patient_id, previous=previous, status=status, actor=None, at=at
        )
        histories.append(history)
        activities.append(activity)
    copy_insert(EcmStatusHistory, STATUS_HISTORY_FIELDS, histories)
    copy_insert(Activity, ACTIVITY_FIELDS, activities)


def import_members(
    *,
    header: Sequence[str],
    records: Iterable[Record],
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert patients and their ECM eligibility by ``member_id`` from the eligibility feed
    (records as ``ecm_admin.csvfiles.CsvReader`` reads them).

    A new member, or a member whose status changes, gets one "System Import" status-history
    entry and activity. Rows equal to what is stored write nothing. Raises ImportFileError
    when the header lacks a required column, ImportInterrupted when a chunk fails to write.
    """
    importer = MemberImporter(header, dry_run)
    report = run(importer, records, chunk_size=chunk_size, on_progress=on_progress)
    if not dry_run:
        search_counts_compact()
    return report
