"""What ``import_members`` and ``import_authorizations`` share: the CSV file in (read with
``ecm_admin.csvfiles``), the report out."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError, CommandParser

from audit.commands import AuditedCommand
from audit.models import Action
from ecm_admin.csvfiles import CsvFileError, CsvReader
from ecm_admin.progress import Pace, Progress
from patients.importers.report import ImportFileError, ImportInterrupted, ImportReport


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
        parser.add_argument(
            "--rows-per-second",
            type=_rate,
            metavar="N",
            help=(
                "at most N rows a second on average, pausing between chunks: for an import "
                "beside live traffic (default: as fast as it goes)"
            ),
        )

    def handle(
        self,
        *args: Any,
        file: str,
        dry_run: bool,
        rows_per_second: int | None = None,
        **options: Any,
    ) -> None:
        interrupted: ImportInterrupted | None = None
        try:
            with CsvReader(file) as reader:
                bar = Progress(None, label=f"Importing {self.label}")
                if bar.enabled:  # counting the records is a pass over the file of its own
                    bar.total = reader.count()
                on_progress = bar.advance
                if rows_per_second is not None:
                    pace = Pace(rows_per_second)

                    def on_progress(rows: int) -> None:
                        bar.advance(rows)
                        pace(rows)

                with bar:
                    report = self.importer(
                        header=reader.header,
                        records=reader.records(),
                        dry_run=dry_run,
                        on_progress=on_progress,
                    )
        except CsvFileError as exc:
            raise CommandError(str(exc)) from exc
        except ImportFileError as exc:
            raise CommandError(f"{reader.name}: {exc}") from exc
        except ImportInterrupted as exc:
            interrupted, report = exc, exc.report
        self._print(reader.name, report)
        self.audit_patient_ids.extend(report.patient_ids)
        if interrupted is not None:
            raise CommandError(f"{reader.name}: {interrupted}") from interrupted
        if report.failed:
            rows = "row" if report.failed == 1 else "rows"
            raise CommandError(f"{reader.name}: {report.failed} {rows} failed (see above)")

    def _print(self, name: str, report: ImportReport) -> None:
        if report.ignored_columns:
            ignored = ", ".join(report.ignored_columns)
            self.stderr.write(f"ignored unknown columns: {ignored}", self.style.WARNING)
        for error in report.errors:
            self.stderr.write(str(error))
        self.stdout.write(f"Imported {name}: {report.summary()}")


def _rate(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of rows, at least 1")
    return int(value)
