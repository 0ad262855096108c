"""``manage.py bulk_assign_lcms FILE.csv``: assign Lead Care Managers from a CSV file.

Columns: ``patient_id`` or ``member_id``; ``olcm_user_id`` or ``olcm_email``; ``ilcm_user_id``
or ``ilcm_email``; optional ``provider_id``. Rows go through the bulk-assignment service in
chunks of 1,000 (each chunk set-based, in its own transaction) with the bulk endpoint's rules.

On PostgreSQL each chunk is split by patient between writers (``ecm_admin.writers``), each
with its own connection and transaction, which run at the same time (while the main thread
reads and resolves the next chunk). All rows of one patient go to the same writer, in file
order, so the same patient twice still ends with the later row, both changes recorded in
order; the results, the output and the exit status come out in file order, exactly as with
one writer. Every writer locks its patients as every care-team writer does (ordered by id),
and the writers' patients never overlap, so they cannot deadlock each other or anyone else.
"""

import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from itertools import islice
from pathlib import Path

from django.core.management.base import CommandError

from accounts.models import User
from audit.commands import AuditedCommand
from audit.models import Action
from care_team import selectors
from care_team.services import (
    MAX_BULK_ITEMS,
    MAX_REASON_LENGTH,
    PATIENT_NOT_FOUND,
    Assignment,
    InvalidItem,
    care_team_bulk_assign,
)
from ecm_admin.csvfiles import CsvFileError, CsvReader, Record
from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.inputs import parse_id
from ecm_admin.progress import Progress
from ecm_admin.writers import Writers, writer_count

COMMAND_ACTOR_NAME = "Bulk Assign Command"
PATIENT_COLUMNS = ("patient_id", "member_id")
LCM_COLUMNS = (("olcm_user_id", "olcm_email"), ("ilcm_user_id", "ilcm_email"))
LCM_COLUMN_NAMES = {column for pair in LCM_COLUMNS for column in pair}
KNOWN_COLUMNS = {*PATIENT_COLUMNS, *LCM_COLUMN_NAMES, "provider_id"}
RESULT_COLUMNS = ["line", "patient_id", "member_id", "status", "errors"]
MAX_REPORTED_FAILURES = 100
# The rows of a writer whose transaction failed (the other writers' rows are written).
NOT_WRITTEN = "Not applied: a database error stopped this part of the chunk"


class Row:
    """One record of the file: its line number, its cells (trimmed; a cell the CSV reader
    refused is empty) and what the reader found wrong with it."""

    def __init__(self, record: Record):
        self.line = record.line
        self.problems = [f"{column} {problem}" for column, problem in record.problems.items()]
        if record.refused:
            self.problems.append(record.refused)
        self.extra_cells = record.extra > 0
        self.cells = {key: (value or "").strip() for key, value in record.row.items()}

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


class Command(AuditedCommand):
    help = "Assign oLCMs/iLCMs (and providers) to ECM patients from a CSV file."
    audit_action = Action.BULK_ASSIGN

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row")
        parser.add_argument("--reason", default="", help="Reason kept on history and activity")
        parser.add_argument("--results", help="Write one result per row to this CSV file")
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing")
        parser.add_argument("--actor-email", help="Record changes as made by this user")

    def handle(self, *args, **options):
        path = Path(options["file"])
        reason = options["reason"]
        dry_run = options["dry_run"]
        if len(reason) > MAX_REASON_LENGTH:
            raise CommandError(f"--reason must be at most {MAX_REASON_LENGTH} characters")
        actor = self._actor(options["actor_email"])
        self.audit_user_id = actor.pk if actor else None

        processed = failed = 0
        failures: list[str] = []  # the first few, printed after the progress bar
        with ExitStack() as files:
            try:
                reader = files.enter_context(CsvReader(path))
            except CsvFileError as exc:
                raise CommandError(str(exc)) from exc
            self._check_header(reader.header)
            results_file = self._open_results(options["results"])
            if results_file:
                files.enter_context(results_file)
            writer = csv.writer(results_file) if results_file else None
            if writer:
                writer.writerow(RESULT_COLUMNS)
            bar = Progress(None, label="Assigning")
            if bar.enabled:  # counting the rows is a pass over the file of its own
                bar.total = reader.count()
            with (
                bar,
                _Writers(writer_count(), actor=actor, dry_run=dry_run) as writers,
            ):
                for rows, items, chunk_errors in writers.run(self._prepared(reader, reason)):
                    for row, errors in zip(rows, chunk_errors, strict=True):
                        if writer:
                            writer.writerow(
                                [
                                    row.line,
                                    row.get("patient_id"),
                                    row.get("member_id"),
                                    "failed" if errors else "success",
                                    "; ".join(errors),
                                ]
                            )
                        if errors and len(failures) < MAX_REPORTED_FAILURES:
                            failures.append(f"line {row.line}: {'; '.join(errors)}")
                    self.audit_patient_ids.extend(
                        item.patient_id
                        for item, errors in zip(items, chunk_errors, strict=True)
                        if not errors and isinstance(item, Assignment)
                    )
                    processed += len(rows)
                    failed += sum(1 for errors in chunk_errors if errors)
                    bar.advance(len(rows))

        for failure in failures:
            self.stderr.write(failure)
        if failed > len(failures):
            self.stderr.write(f"... and {failed - len(failures)} more failed rows (see --results)")
        summary = f"Processed {processed} rows: {processed - failed} assigned, {failed} failed"
        if dry_run:
            summary += " (dry run: nothing written)"
        self.stdout.write(summary)
        if failed:
            raise CommandError(f"{failed} of {processed} rows failed")

    # --- input -------------------------------------------------------------------

    def _actor(self, email: str | None) -> User | None:
        if not email:
            return None
        actor = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
        if actor is None:
            raise CommandError(f"--actor-email {email}: no active user with that email")
        return actor

    @staticmethod
    def _check_header(header: list[str]) -> None:
        unknown = sorted(set(header) - KNOWN_COLUMNS)
        if unknown:
            names = ", ".join(name or "(blank)" for name in unknown)
            raise CommandError(f"Unknown columns: {names}")
        if len(set(header)) != len(header):
            raise CommandError("The header row repeats a column")
        if not set(header) & set(PATIENT_COLUMNS):
            raise CommandError("The header needs a patient_id or member_id column")
        if not set(header) & LCM_COLUMN_NAMES:
            raise CommandError(
                "The header needs at least one of: " + ", ".join(sorted(LCM_COLUMN_NAMES))
            )

    def _prepared(
        self, reader: CsvReader, reason: str
    ) -> Iterator[tuple[list[Row], list[Assignment | InvalidItem]]]:
        rows = (Row(record) for record in reader.records())
        while chunk := list(islice(rows, MAX_BULK_ITEMS)):
            yield chunk, self._items(chunk, reason)

    def _open_results(self, path: str | None):
        if not path:
            return None
        try:
            return Path(path).open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc

    def _items(self, rows: list[Row], reason: str) -> list[Assignment | InvalidItem]:
        """Rows as service items; member ids and emails resolved in one query each."""
        readable = [row for row in rows if not row.problems]
        patients = selectors.ecm_patient_ids_by_member_id(
            row.get("member_id") for row in readable if row.get("member_id")
        )
        emails = {row.get(column) for row in readable for _, column in LCM_COLUMNS}
        lcms = selectors.active_lcm_ids_by_email(email for email in emails if email)
        return [self._item(row, reason, patients, lcms) for row in rows]

    def _item(
        self, row: Row, reason: str, patients: dict[str, int], lcms: dict[str, int]
    ) -> Assignment | InvalidItem:
        errors: list[str] = []
        if row.extra_cells:
            errors.append("The line has more cells than the header")
        if row.problems:  # cells the CSV reader refused: the others are not looked at
            return InvalidItem((*row.problems, *errors))
        patient_id = self._reference(
            row, "patient_id", "member_id", patients, PATIENT_NOT_FOUND, errors, required=True
        )
        user_ids = {
            id_column: self._reference(
                row,
                id_column,
                email_column,
                lcms,
                email_column + " {} is not an active Lead Care Manager",
                errors,
                normalize=str.lower,
            )
            for id_column, email_column in LCM_COLUMNS
        }
        provider_id = self._int(row, "provider_id", errors)
        if errors:
            return InvalidItem(tuple(errors))
        return Assignment(patient_id=patient_id, provider_id=provider_id, reason=reason, **user_ids)

    def _reference(
        self,
        row: Row,
        id_column: str,
        key_column: str,
        lookup: dict[str, int],
        missing: str,
        errors: list[str],
        *,
        required: bool = False,
        normalize: Callable[[str], str] = str.strip,
    ) -> int | None:
        """The id in ``id_column``, or the id ``lookup`` gives for ``key_column``'s value."""
        key = row.get(key_column)
        if key and row.get(id_column):
            errors.append(f"Give {id_column} or {key_column}, not both")
            return None
        if key:
            found = lookup.get(normalize(key))
            if found is None:
                errors.append(missing.format(key))
            return found
        if required and not row.get(id_column):
            errors.append(f"{id_column} or {key_column} is required")
            return None
        return self._int(row, id_column, errors)

    @staticmethod
    def _int(row: Row, column: str, errors: list[str]) -> int | None:
        try:
            return parse_id(column, row.get(column), required=False)
        except UnprocessableEntity as exc:
            errors.extend(exc.errors)
            return None


# --- writers -----------------------------------------------------------------------


Chunk = tuple[list[Row], list[Assignment | InvalidItem]]


class _Writers:
    """Applies chunks of items with ``count`` writers (``ecm_admin.writers``), split by patient.

    ``run`` yields ``(rows, items, errors per item)`` for every chunk, in order. A chunk is
    handed to the writers only once the previous one is done, and the main thread prepares
    the next chunk meanwhile. One patient's rows always go to the same writer, so they are
    applied by the same connection, one chunk after the other.
    """

    def __init__(self, count: int, *, actor: User | None, dry_run: bool):
        self.count = count
        self.actor = actor
        self.dry_run = dry_run
        self._writers = Writers(count, name="bulk-assign")

    def __enter__(self) -> "_Writers":
        self._writers.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._writers.__exit__(*exc_info)

    def run(self, chunks: Iterator[Chunk]) -> Iterator[tuple[list[Row], list, list[list[str]]]]:
        if self.count == 1:
            for rows, items in chunks:
                yield rows, items, self._assign(items)
            return
        prepared, problem = _next(chunks)
        while prepared is not None:
            rows, items = prepared
            parts = [
                (part, self._writers.submit(index, self._assign, [items[p] for p in part]))
                for index, part in enumerate(self._split(items))
                if part
            ]
            # Read and resolve the next chunk meanwhile; a failure there is raised only after
            # this chunk's results are out, as it would be without writers running ahead.
            prepared, problem = _next(chunks)
            errors: list[list[str]] = [[] for _ in items]
            outcomes, failure = Writers.results([future for _, future in parts])
            for (part, _), part_errors in zip(parts, outcomes, strict=True):
                # A writer that failed rolled its part back; the others' parts are written.
                part_errors = part_errors or [[NOT_WRITTEN]] * len(part)
                for position, item_errors in zip(part, part_errors, strict=True):
                    errors[position] = item_errors
            # Reported (results file, audit record) before the failure stops the command.
            yield rows, items, errors
            if failure is not None:
                raise failure
        if problem is not None:
            raise problem

    def _split(self, items: Sequence[Assignment | InvalidItem]) -> list[list[int]]:
        """Item positions per writer, in input order: every item of a patient to one writer."""
        parts: list[list[int]] = [[] for _ in range(self.count)]
        for position, item in enumerate(items):
            writer = item.patient_id % self.count if isinstance(item, Assignment) else 0
            parts[writer].append(position)
        return parts

    def _assign(self, items: list[Assignment | InvalidItem]) -> list[list[str]]:
        result = care_team_bulk_assign(
            assignments=items,
            actor=self.actor,
            default_actor_name=COMMAND_ACTOR_NAME,
            dry_run=self.dry_run,
        )
        return result.errors


def _next(chunks: Iterator[Chunk]) -> tuple[Chunk | None, Exception | None]:
    try:
        return next(chunks, None), None
    except Exception as exc:
        return None, exc
