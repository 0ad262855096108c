"""``manage.py import_members FILE.csv [--dry-run]``: the ECM eligibility feed."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import CommandError, CommandParser

from audit.commands import AuditedCommand
from audit.models import Action
from ecm_admin.progress import Progress
from patients.importers import (
    ImportFileError,
    ImportInterrupted,
    ImportReport,
    NumberedRow,
    import_members,
)

ENCODING = "utf-8-sig"  # UTF-8, with or without the byte-order mark spreadsheets add


class CsvImportCommand(AuditedCommand):
    """Reads a CSV file for an import service and prints its report.

    Row problems go to stderr as ``line N: ...``, the one-line summary to stdout. Exits
    non-zero when the file cannot be read, when a required column is missing, and when any
    row failed (the good rows still land).
    """

    label = ""  # "members", "authorizations"
    audit_action = Action.IMPORT
    importer: Callable[..., ImportReport]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.csv", help="CSV file with a header row")
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and report, write nothing"
        )

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        path = Path(file)
        header, total = _scan(path)
        interrupted: ImportInterrupted | None = None
        with (
            path.open(encoding=ENCODING, newline="") as handle,
            Progress(total, label=f"Importing {self.label}") as bar,
        ):
            try:
                report = self.importer(
                    header=header,
                    rows=_numbered_rows(handle, header),
                    dry_run=dry_run,
                    on_progress=bar.advance,
                )
            except ImportFileError as exc:
                raise CommandError(f"{path.name}: {exc}") from exc
            except ImportInterrupted as exc:
                interrupted, report = exc, exc.report
        self._print(path, report)
        self.audit_patient_ids.extend(report.patient_ids)
        if interrupted is not None:
            raise CommandError(f"{path.name}: {interrupted}") from interrupted
        if report.failed:
            rows = "row" if report.failed == 1 else "rows"
            raise CommandError(f"{path.name}: {report.failed} {rows} failed (see above)")

    def _print(self, path: Path, report: ImportReport) -> None:
        if report.ignored_columns:
            ignored = ", ".join(report.ignored_columns)
            self.stderr.write(f"ignored unknown columns: {ignored}", self.style.WARNING)
        for error in report.errors:
            self.stderr.write(str(error))
        self.stdout.write(f"Imported {path.name}: {report.summary()}")


def _scan(path: Path) -> tuple[list[str], int]:
    """The normalised header and the number of records, after reading the whole file once.

    Any problem with the file as a whole (missing, unreadable, not UTF-8, malformed CSV)
    surfaces here, before anything is written.
    """
    try:
        with path.open(encoding=ENCODING, newline="") as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader, None)
                total = sum(1 for record in reader if record)
            except UnicodeDecodeError as exc:
                raise CommandError(f"{path.name} is not UTF-8 text") from exc
            except csv.Error as exc:
                raise CommandError(f"{path.name} line {reader.line_num}: {exc}") from exc
    except FileNotFoundError as exc:
        raise CommandError(f"{path}: no such file") from exc
    except OSError as exc:
        raise CommandError(f"{path}: cannot read the file ({exc.strerror})") from exc
    if header is None:
        raise CommandError(f"{path.name} is empty: expected a header row")
    return [name.strip().lower() for name in header], total


def _numbered_rows(handle: TextIO, header: list[str]) -> Iterator[NumberedRow]:
    """Each record as ``csv.DictReader`` gives it, keyed by the normalised header: blank lines
    skipped, a missing cell ``None``, surplus cells a list under the key ``None``. (Built
    here from ``csv.reader``: ``DictReader`` costs twice as much per row.)"""
    reader = csv.reader(handle)
    next(reader, None)  # the header line
    width = len(header)
    for record in reader:
        if not record:
            continue
        row: dict[str | None, Any] = dict(zip(header, record, strict=False))
        if len(record) > width:
            row[None] = record[width:]
        elif len(record) < width:
            row.update(dict.fromkeys(header[len(record) :]))
        yield reader.line_num, row


class Command(CsvImportCommand):
    help = "Import the ECM eligibility feed: upsert patients and eligibility by member_id."
    label = "members"
    importer = staticmethod(import_members)
