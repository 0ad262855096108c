"""Set-based imports of the eligibility feed (members) and of ECM authorizations.

Rows arrive as ``(line number, row)`` pairs, ``row`` shaped like a ``csv.DictReader`` row
(missing cells are ``None``, surplus cells sit under the key ``None``). They are handled in
chunks: validate the chunk, load its existing records in one query, and write only what
changed (bulk create, bulk update) in one transaction per chunk, so a crash loses at most
the chunk in progress. A bad row is reported with its line number and skipped. On PostgreSQL
a chunk's rows are written by two writers (``ecm_admin.writers``), the first half of its
lines by one and the second half by the other, each in its own transaction.

New members and their history are written as plain rows (``COPY`` on PostgreSQL, see
``ecm_admin.db``), not model instances: at 100,000 rows the ORM's per-value work costs more
than the database's.

Columns present in the header are authoritative (an empty cell clears the value); columns
absent from the header leave the stored values untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

from django.db import models, transaction
from django.utils import timezone

from ecm_admin.db import bulk_update_rows, copy_insert, insert_returning_ids
from ecm_admin.writers import Writers, writer_count
from patients.choices import AcuityLevel, Gender, MemberRecordStatus
from patients.models import (
    Activity,
    EcmAuthorization,
    EcmEligibilityInformation,
    EcmStatusHistory,
    Patient,
)
from patients.services import (
    ACTIVITY_FIELDS,
    STATUS_HISTORY_FIELDS,
    compact_search_counts,
    status_change_rows,
)
from patients.validators import cin_is_valid, email_is_valid, npi_is_valid, parse_date

CHUNK_SIZE = 2000
MAX_SHOWN_VALUE = 40

Row = Mapping[str | None, Any]
NumberedRow = tuple[int, Row]
Values = dict[str, Any]


class ImportFileError(ValueError):
    """The rows cannot be imported at all (a required column is missing, a column repeats)."""


class FieldError(ValueError):
    """One cell is invalid; the message is a sentence naming the column."""


class ImportInterrupted(Exception):
    """A chunk failed to write. ``report`` holds what landed: everything before
    ``first_line``, and the parts of its chunk that other writers wrote (``unwritten`` then
    names the lines that were not written: that part, and everything after the chunk)."""

    def __init__(
        self,
        report: ImportReport,
        first_line: int,
        cause: BaseException,
        *,
        unwritten: str | None = None,
    ):
        self.report = report
        self.first_line = first_line
        unwritten = unwritten or f"nothing from line {first_line} on was written"
        super().__init__(
            f"import stopped at line {first_line} ({type(cause).__name__}: {cause}); {unwritten}"
        )


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    # Patients created or changed (for the access audit), in the order written.
    patient_ids: list[int] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)

    def add(self, other: ImportReport) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.errors.extend(other.errors)
        self.patient_ids.extend(other.patient_ids)

    def summary(self) -> str:
        text = (
            f"{self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.failed} failed"
        )
        return text + (" (dry run: nothing written)" if self.dry_run else "")


# --- columns ---------------------------------------------------------------------------

Parser = Callable[[str, str], Any]
# A parsed value meaning "leave the stored value as it is" (a blank status, for example).
KEEP = object()


@dataclass(frozen=True)
class Column:
    name: str
    parse: Parser
    attr: str = ""
    required: bool = False

    @property
    def model_attr(self) -> str:
        return self.attr or self.name


def _shown(raw: str) -> str:
    return raw if len(raw) <= MAX_SHOWN_VALUE else raw[: MAX_SHOWN_VALUE - 1] + "…"


def _text(
    model: type[models.Model],
    attr: str,
    check: Callable[[str], bool] | None = None,
    problem: str = "",
) -> Parser:
    """Free text within the model field's length; ``check`` (if any) must accept non-blanks."""
    max_length = model._meta.get_field(attr).max_length

    def parse(column: str, raw: str) -> str:
        if max_length and len(raw) > max_length:
            raise FieldError(f"{column} is longer than {max_length} characters")
        if raw and check is not None and not check(raw):
            raise FieldError(f"{column} {_shown(raw)} {problem}")
        return raw

    return parse


def _date(column: str, raw: str) -> dt.date | None:
    try:
        return parse_date(raw)
    except ValueError:
        raise FieldError(f"{column} {_shown(raw)} is not a valid date (YYYY-MM-DD)") from None


def _choice(choices: type[models.TextChoices], blank: Any = "") -> Parser:
    """One of ``choices`` (case-insensitive); a blank cell gives ``blank``."""
    values = frozenset(choices.values)
    allowed = ", ".join(choices.values)

    def parse(column: str, raw: str) -> Any:
        if not raw:
            return blank
        value = raw.lower()
        if value not in values:
            raise FieldError(f"{column} {_shown(raw)} is not one of {allowed}")
        return value

    return parse


PATIENT_COLUMNS: tuple[Column, ...] = (
    Column("first_name", _text(Patient, "first_name"), required=True),
    Column("last_name", _text(Patient, "last_name"), required=True),
    Column("date_of_birth", _date),
    Column("gender", _choice(Gender)),
    Column("phone", _text(Patient, "phone")),
    Column("email", _text(Patient, "email", email_is_valid, "is not a valid email address")),
    Column("street", _text(Patient, "street")),
    Column("city", _text(Patient, "city")),
    Column("state", _text(Patient, "state")),
    Column("zip", _text(Patient, "zip_code"), attr="zip_code"),
)
ELIGIBILITY_COLUMNS: tuple[Column, ...] = (
    Column("member_id", _text(EcmEligibilityInformation, "member_id"), required=True),
    Column(
        "cin", _text(EcmEligibilityInformation, "cin", cin_is_valid, "is not 9 letters or digits")
    ),
    Column("ecm_service_auth_id", _text(EcmEligibilityInformation, "ecm_service_auth_id")),
    Column("ecm_provider_name", _text(EcmEligibilityInformation, "ecm_provider_name")),
    Column(
        "ecm_npi", _text(EcmEligibilityInformation, "ecm_npi", npi_is_valid, "is not a valid NPI")
    ),
    Column("ecm_benefit_auth_eff_date", _date),
    Column("ecm_benefit_auth_end_date", _date),
    Column("acuity_level", _choice(AcuityLevel)),
    # Blank keeps an existing member's status; a new member starts as new_member.
    Column("member_record_status", _choice(MemberRecordStatus, blank=KEEP)),
)
AUTHORIZATION_COLUMNS: tuple[Column, ...] = (
    Column("member_id", _text(EcmEligibilityInformation, "member_id"), required=True),
    Column("auth_no", _text(EcmAuthorization, "auth_no"), required=True),
    Column("auth_type", _text(EcmAuthorization, "auth_type")),
    Column("authorization_type", _text(EcmAuthorization, "authorization_type")),
    Column("status", _text(EcmAuthorization, "status")),
    Column("start_date", _date),
    Column("expiration_date", _date),
)


def _present(columns: Sequence[Column], header: Sequence[str]) -> list[Column]:
    return [column for column in columns if column.name in header]


def _model_values(values: Values, columns: Sequence[Column]) -> Values:
    """``values`` (keyed by column name) as model attributes, without KEEP entries."""
    return {
        column.attr or column.name: value
        for column in columns
        if (value := values.get(column.name, KEEP)) is not KEEP
    }


def _changes(obj: models.Model, values: Values) -> Values:
    return {attr: value for attr, value in values.items() if getattr(obj, attr) != value}


# --- the chunked runner ----------------------------------------------------------------


class _ChunkImporter:
    """Validation shared by both imports; subclasses load, compare and write a chunk."""

    columns: tuple[Column, ...] = ()
    key: str = ""  # the column that identifies a record; unique within a file
    # (start, end) date columns, named like their model attributes: end may not precede start
    date_pairs: tuple[tuple[str, str], ...] = ()

    def __init__(self, header: Sequence[str], dry_run: bool):
        self.header = list(header)
        self.present = _present(self.columns, header)
        self.dry_run = dry_run
        self.first_seen: dict[str, int] = {}

    @classmethod
    def check_header(cls, header: Sequence[str]) -> list[str]:
        """Raise ImportFileError for a missing required or repeated column; return unknown ones."""
        repeated = sorted({name for name in header if name and header.count(name) > 1})
        if repeated:
            raise ImportFileError(f"column {', '.join(repeated)} appears more than once")
        missing = [c.name for c in cls.columns if c.required and c.name not in header]
        if missing:
            noun = "column" if len(missing) == 1 else "columns"
            raise ImportFileError(f"required {noun} missing: {', '.join(missing)}")
        known = {c.name for c in cls.columns}
        return [name for name in header if name and name not in known]

    def import_chunk(self, chunk: list[NumberedRow]) -> ImportReport:
        return self.write(self.validate(chunk))

    def validate(self, chunk: list[NumberedRow]) -> _Validated:
        """Parse and check the chunk's rows (no database work)."""
        outcome = ImportReport(dry_run=self.dry_run)
        valid = [
            (line, values)
            for line, row in chunk
            if (values := self._clean(line, row, outcome)) is not None
        ]
        return _Validated(valid, outcome)

    def write(self, validated: _Validated) -> ImportReport:
        """Compare the valid rows with what is stored and write the changes (one transaction,
        on the calling thread's connection)."""
        valid, outcome = validated
        if self.dry_run:
            self.apply(valid, outcome)
        else:
            with transaction.atomic():
                self.apply(valid, outcome)
        outcome.errors.sort(key=lambda error: error.line)
        return outcome

    def apply(self, valid: list[tuple[int, Values]], outcome: ImportReport) -> None:
        raise NotImplementedError

    def _clean(self, line: int, row: Row, outcome: ImportReport) -> Values | None:
        """The row's parsed values by column name, or None after reporting its problems."""
        problems: list[str] = []
        if None in row:
            problems.append("the row has more fields than the header")
        elif None in row.values():
            problems.append("the row has fewer fields than the header")
        values: Values = {}
        for column in self.present:
            raw = (row.get(column.name) or "").strip()
            if column.required and not raw:
                problems.append(f"{column.name} is required")
                continue
            try:
                values[column.name] = column.parse(column.name, raw)
            except FieldError as exc:
                problems.append(str(exc))
        if problem := self._date_problem(values):
            problems.append(problem)
        key = (row.get(self.key) or "").strip()
        if key:
            first = self.first_seen.setdefault(key, line)
            if first != line:
                problems.append(f"{self.key} {_shown(key)} already appeared on line {first}")
        if problems:
            outcome.errors.append(RowError(line, "; ".join(problems)))
            return None
        return values

    def _date_problem(self, values: Values, stored: models.Model | None = None) -> str | None:
        """An end date before its start date; values absent from ``values`` come from ``stored``.

        Without ``stored`` only pairs with both dates in ``values`` are checked.
        """
        for start, end in self.date_pairs:
            if stored is None and not (start in values and end in values):
                continue
            start_value = values[start] if start in values else getattr(stored, start)
            end_value = values[end] if end in values else getattr(stored, end)
            if start_value and end_value and end_value < start_value:
                return f"{end} {end_value.isoformat()} is before {start} {start_value.isoformat()}"
        return None


class _Validated(NamedTuple):
    valid: list[tuple[int, Values]]  # (line, values) of the rows that passed
    outcome: ImportReport  # their errors so far


def _chunks(rows: Iterable[NumberedRow], size: int) -> Iterator[list[NumberedRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _read_and_validate(
    importer: _ChunkImporter, chunks: Iterator[list[NumberedRow]]
) -> tuple[list[NumberedRow], _Validated | BaseException] | None:
    """The next chunk and its validation (or what validating it raised); None at the end.

    An error reading the rows propagates as it is.
    """
    chunk = next(chunks, None)
    if chunk is None:
        return None
    try:
        return chunk, importer.validate(chunk)
    except Exception as exc:
        return chunk, exc


def _run(
    importer: _ChunkImporter,
    rows: Iterable[NumberedRow],
    *,
    chunk_size: int,
    on_progress: Callable[[int], None] | None,
) -> ImportReport:
    """Import the rows chunk by chunk, in file order.

    Reading and validating rows is Python work only; it runs a chunk ahead in a worker thread
    while the previous chunk is written (waiting for the database releases the GIL), so the
    two overlap on a multi-core machine. The writers (``_write_chunk``) use the database.
    """
    report = ImportReport(dry_run=importer.dry_run)
    report.ignored_columns = importer.check_header(importer.header)
    chunks = _chunks(rows, chunk_size)
    next_line = 1  # the first line not written yet (for an interruption between chunks)
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-validate") as worker,
        Writers(writer_count(), name="import-write") as writers,
    ):
        pending = worker.submit(_read_and_validate, importer, chunks)
        while True:
            try:
                prepared = pending.result()
            except KeyboardInterrupt as exc:
                pending.cancel()
                raise ImportInterrupted(report, next_line, exc) from exc
            if prepared is None:
                break
            chunk, validated = prepared
            pending = worker.submit(_read_and_validate, importer, chunks)
            if isinstance(validated, BaseException):
                raise ImportInterrupted(report, chunk[0][0], validated) from validated
            _write_chunk(importer, writers, chunk, validated, report)
            next_line = chunk[-1][0] + 1
            if on_progress is not None:
                on_progress(len(chunk))
    return report


def _write_chunk(
    importer: _ChunkImporter,
    writers: Writers,
    chunk: list[NumberedRow],
    validated: _Validated,
    report: ImportReport,
) -> None:
    """Write one chunk's valid rows, split in consecutive parts between the writers, and add
    its outcome to ``report``; or raise ``ImportInterrupted``.

    The rows of a chunk are distinct records (a record twice in a file is reported, not
    written), so the parts never touch the same rows. A part that fails is rolled back; the
    others are written, and reported with the lines that were not.
    """
    valid, outcome = validated
    size = -(-len(valid) // writers.count) or 1
    parts = [valid[start : start + size] for start in range(0, len(valid), size)] or [[]]
    futures = [
        writers.submit(index, importer.write, _Validated(part, ImportReport(importer.dry_run)))
        for index, part in enumerate(parts)
    ]
    outcomes, failure = writers.results(futures)
    # Lines of each part: from its first row (the chunk's first line for the first part) to
    # the line before the next part's first row (the chunk's last line for the last part).
    starts = [chunk[0][0], *(part[0][0] for part in parts[1:])]
    ends = [start - 1 for start in starts[1:]] + [chunk[-1][0]]
    failed = [index for index, part_outcome in enumerate(outcomes) if part_outcome is None]
    unwritten = [(starts[index], ends[index]) for index in failed]
    landed = ImportReport(importer.dry_run)
    landed.errors = [
        error
        for error in outcome.errors
        if not any(first <= error.line <= last for first, last in unwritten)
    ]
    for part_outcome in outcomes:
        if part_outcome is not None:
            landed.add(part_outcome)
    landed.errors.sort(key=lambda error: error.line)
    report.add(landed)
    if failure is None:
        return
    if not failed:  # a Ctrl-C while the writers finished the chunk
        raise ImportInterrupted(report, chunk[-1][0] + 1, failure) from failure
    message = None  # the failed parts are the last ones: nothing from the first one's line on
    if failed != list(range(failed[0], len(parts))):
        ranges = ", ".join(f"{first}-{last}" for first, last in unwritten)
        message = f"lines {ranges} and everything after line {ends[-1]} were not written"
    raise ImportInterrupted(report, unwritten[0][0], failure, unwritten=message) from failure


# --- members ---------------------------------------------------------------------------


# A valid row of the member feed: line, member_id, patient values, eligibility values.
_MemberRow = tuple[int, str, Values, Values]


@dataclass
class _MemberChange:
    """One valid row compared with what is stored.

    A new member has no stored rows (``None``) and its changes are all the values it gets.
    """

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
    # (patient id, previous status, new status) of existing members whose status changes
    status_changes: list[tuple[int, str | None, str]] = field(default_factory=list)
    # the ids of the new members' patients, once saved (in the order of ``new``)
    created_patient_ids: list[int] = field(default_factory=list)


class _MemberImporter(_ChunkImporter):
    columns = PATIENT_COLUMNS + ELIGIBILITY_COLUMNS
    key = "member_id"
    date_pairs = (("ecm_benefit_auth_eff_date", "ecm_benefit_auth_end_date"),)

    def __init__(self, header: Sequence[str], dry_run: bool):
        super().__init__(header, dry_run)
        self.patient_columns = _present(PATIENT_COLUMNS, header)
        self.eligibility_columns = _present(ELIGIBILITY_COLUMNS, header)

    def validate(self, chunk: list[NumberedRow]) -> _Validated:
        """As for every import, each valid row also split into its patient and eligibility
        values (model attributes): Python work done here, in the thread that validates the next
        chunk while the current one is written."""
        validated = super().validate(chunk)
        split = [
            (
                line,
                values["member_id"],
                _model_values(values, self.patient_columns),
                _model_values(values, self.eligibility_columns),
            )
            for line, values in validated.valid
        ]
        return validated._replace(valid=split)

    def apply(self, valid: list[_MemberRow], outcome: ImportReport) -> None:
        existing = self._existing([member_id for _, member_id, _, _ in valid])
        changes = {row[1]: self._compare(row, existing) for row in valid}
        if not self.dry_run:
            # Re-read the rows about to change under a lock, so no concurrent edit is lost.
            changing = {
                member_id
                for member_id, change in changes.items()
                if change.changed and not change.is_new
            }
            if changing:
                existing.update(self._existing(list(changing), lock=True))
                changes.update(
                    (row[1], self._compare(row, existing)) for row in valid if row[1] in changing
                )
        writes = _MemberWrites()
        for line, member_id, _, _ in valid:
            change = changes[member_id]
            if problem := self._date_problem(change.eligibility_changes, change.eligibility):
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
            self._save(writes)
            outcome.patient_ids.extend(writes.created_patient_ids)
            outcome.patient_ids.extend(patient.pk for patient in writes.patients)
            outcome.patient_ids.extend(e.patient_id for e in writes.eligibilities)

    def _existing(
        self, member_ids: list[str], lock: bool = False
    ) -> dict[str, EcmEligibilityInformation]:
        if not member_ids:
            return {}
        rows = EcmEligibilityInformation.objects.filter(member_id__any_of=member_ids)
        rows = rows.select_related("patient").order_by("pk")
        if lock:
            rows = rows.select_for_update()
        return {row.member_id: row for row in rows}

    @staticmethod
    def _compare(row: _MemberRow, existing: dict[str, EcmEligibilityInformation]) -> _MemberChange:
        _, member_id, patient_values, eligibility_values = row
        eligibility = existing.get(member_id)
        if eligibility is None:
            return _MemberChange(None, None, patient_values, eligibility_values)
        return _MemberChange(
            eligibility.patient,
            eligibility,
            _changes(eligibility.patient, patient_values),
            _changes(eligibility, eligibility_values),
        )

    @staticmethod
    def _plan_update(writes: _MemberWrites, change: _MemberChange) -> None:
        patient, eligibility = change.patient, change.eligibility
        if change.patient_changes:
            _assign(patient, change.patient_changes)
            writes.patients.append(patient)
        if change.eligibility_changes:
            previous = eligibility.member_record_status
            _assign(eligibility, change.eligibility_changes)
            writes.eligibilities.append(eligibility)
            if "member_record_status" in change.eligibility_changes:
                writes.status_changes.append(
                    (patient.pk, previous, eligibility.member_record_status)
                )

    def _save(self, writes: _MemberWrites) -> None:
        now = timezone.now()
        created = self._create(writes.new, now)
        writes.created_patient_ids = created.patient_ids
        bulk_update_rows(
            writes.patients, [*(c.model_attr for c in self.patient_columns), "updated_at"]
        )
        eligibility_attrs = [c.model_attr for c in self.eligibility_columns if c.name != self.key]
        bulk_update_rows(writes.eligibilities, [*eligibility_attrs, "updated_at"])
        _record_status_changes(created.statuses + writes.status_changes, now)

    @staticmethod
    def _create(new: list[_MemberChange], now: dt.datetime) -> _Created:
        """Insert the new members' patients and eligibility (the model defaults fill the
        columns the file does not give; ``created_at``/``updated_at`` are ``now``)."""
        patient_row = _NewRow(Patient, now, services=["ecm"])
        eligibility_row = _NewRow(EcmEligibilityInformation, now)
        patient_ids = insert_returning_ids(
            Patient, patient_row.fields, [patient_row(c.patient_changes) for c in new]
        )
        eligibilities = [
            eligibility_row(change.eligibility_changes, patient_id=patient_id)
            for change, patient_id in zip(new, patient_ids, strict=True)
        ]
        copy_insert(EcmEligibilityInformation, eligibility_row.fields, eligibilities)
        status = eligibility_row.fields.index("member_record_status")
        statuses = [
            (patient_id, None, row[status])
            for patient_id, row in zip(patient_ids, eligibilities, strict=True)
        ]
        return _Created(patient_ids, statuses)


@dataclass
class _Created:
    patient_ids: list[int]
    statuses: list[tuple[int, str | None, str]]  # (patient id, None, status) per new member


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


def _assign(obj: models.Model, changes: Values) -> None:
    for attr, value in changes.items():
        setattr(obj, attr, value)


def _record_status_changes(changes: list[tuple[int, str | None, str]], at: dt.datetime) -> None:
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
    rows: Iterable[NumberedRow],
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert patients and their ECM eligibility by ``member_id`` from the eligibility feed.

    A new member, or a member whose status changes, gets one "System Import" status-history
    entry and activity. Rows equal to what is stored write nothing. Raises ImportFileError
    when the header lacks a required column, ImportInterrupted when a chunk fails to write.
    """
    importer = _MemberImporter(header, dry_run)
    report = _run(importer, rows, chunk_size=chunk_size, on_progress=on_progress)
    if not dry_run:
        compact_search_counts()
    return report


# --- authorizations --------------------------------------------------------------------


class _AuthorizationImporter(_ChunkImporter):
    columns = AUTHORIZATION_COLUMNS
    key = "auth_no"
    date_pairs = (("start_date", "expiration_date"),)

    def __init__(self, header: Sequence[str], dry_run: bool):
        super().__init__(header, dry_run)
        self.auth_columns = [c for c in self.present if c.name != "member_id"]

    def apply(self, valid: list[tuple[int, Values]], outcome: ImportReport) -> None:
        patients = dict(
            EcmEligibilityInformation.objects.filter(
                member_id__in=[values["member_id"] for _, values in valid]
            ).values_list("member_id", "patient_id")
        )
        existing = self._existing([values["auth_no"] for _, values in valid])
        if not self.dry_run:
            # Re-read the rows about to change under a lock, so no concurrent edit is lost.
            changing = [
                values["auth_no"]
                for _, values in valid
                if values["auth_no"] in existing and self._compare(values, patients, existing)[1]
            ]
            existing.update(self._existing(changing, lock=True))
        new: list[EcmAuthorization] = []
        changed: list[EcmAuthorization] = []
        for line, values in valid:
            problem, changes, authorization = self._compare(values, patients, existing)
            if problem:
                outcome.errors.append(RowError(line, problem))
            elif authorization.pk is None:
                new.append(authorization)
                outcome.created += 1
            elif changes:
                _assign(authorization, changes)
                changed.append(authorization)
                outcome.updated += 1
            else:
                outcome.unchanged += 1
        if not self.dry_run:
            EcmAuthorization.objects.bulk_create(new)
            bulk_update_rows(
                changed,
                [*(c.model_attr for c in self.auth_columns if c.name != self.key), "updated_at"],
            )
            outcome.patient_ids.extend(a.patient_id for a in [*new, *changed])

    def _existing(self, auth_nos: list[str], lock: bool = False) -> dict[str, EcmAuthorization]:
        if not auth_nos:
            return {}
        rows = EcmAuthorization.objects.filter(auth_no__in=auth_nos).order_by("pk")
        if lock:
            rows = rows.select_for_update()
        return {row.auth_no: row for row in rows}

    def _compare(
        self,
        values: Values,
        patients: dict[str, int],
        existing: dict[str, EcmAuthorization],
    ) -> tuple[str | None, Values, EcmAuthorization | None]:
        """(problem, changes, authorization): a new authorization comes unsaved, with its
        values; a stored one comes as stored, with the changes it needs."""
        member_id = values["member_id"]
        patient_id = patients.get(member_id)
        if patient_id is None:
            return f"member_id {_shown(member_id)} is not an ECM member", {}, None
        auth_values = _model_values(values, self.auth_columns)
        authorization = existing.get(values["auth_no"])
        if authorization is None:
            authorization = EcmAuthorization(patient_id=patient_id, **auth_values)
            changes = {}
        elif authorization.patient_id != patient_id:
            problem = f"auth_no {_shown(authorization.auth_no)} belongs to another member"
            return problem, {}, None
        else:
            changes = _changes(authorization, auth_values)
        return self._date_problem(changes, authorization), changes, authorization


def import_authorizations(
    *,
    header: Sequence[str],
    rows: Iterable[NumberedRow],
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert ECM authorizations by ``auth_no``; ``member_id`` must name an ECM member.

    An authorization already recorded for another member is reported, not moved.
    """
    importer = _AuthorizationImporter(header, dry_run)
    return _run(importer, rows, chunk_size=chunk_size, on_progress=on_progress)
