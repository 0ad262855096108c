"""What an import tells its caller: a report of the rows created, updated, unchanged and
failed, and the exceptions that stop an import."""

from __future__ import annotations

from dataclasses import dataclass, field


class ImportFileError(ValueError):
    """The rows cannot be imported at all (a required column is missing, a column repeats)."""


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


class ImportInterrupted(Exception):
    """Writing stopped (a database failure, an error reading the file, Ctrl-C). ``report``
    holds what landed: everything before ``first_line``, nothing from it on."""

    def __init__(self, report: ImportReport, first_line: int, cause: BaseException):
        self.report = report
        self.first_line = first_line
        super().__init__(
            f"import stopped at line {first_line} ({type(cause).__name__}: {cause}); "
            f"nothing from line {first_line} on was written"
        )
