"""What every import does with its rows: check the header, validate each record (no database
work), and write the valid rows of a part of a chunk in one transaction. The two imports
(``members``, ``authorizations``) say how their rows compare with what is stored and how
changes are written (``apply``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from django.db import models, transaction
from django.utils import timezone

from ecm_admin.csvfiles import Record
from patients.importers.columns import Column, Values, present, shown
from patients.importers.report import ImportFileError, ImportReport, RowError
from patients.rules import DateOrder, RuleError


class Validated(NamedTuple):
    valid: list[Any]  # the rows that passed, each a tuple whose first item is its line
    outcome: ImportReport  # their errors so far


class ChunkImporter:
    """Validation shared by both imports; subclasses compare a chunk with what is stored and
    write it (``apply``)."""

    columns: tuple[Column, ...] = ()
    key: str = ""  # the column that identifies a record; unique within a file
    # The dates of the record that may not be out of order (their columns are named like
    # their model attributes).
    date_order: DateOrder | None = None

    def __init__(self, header: Sequence[str], dry_run: bool):
        self.header = list(header)
        self.present = present(self.columns, header)
        self.dry_run = dry_run
        self.today = timezone.localdate()
        # the line each key first appeared on (keys as ``key_of`` gives them)
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

    @staticmethod
    def key_of(value: str) -> str:
        """How two cells of the key column are compared: as they are."""
        return value

    def validate(self, chunk: list[Record]) -> Validated:
        """Parse and check the chunk's records (no database work)."""
        outcome = ImportReport(dry_run=self.dry_run)
        valid = [
            (record.line, values)
            for record in chunk
            if (values := self._clean(record, outcome)) is not None
        ]
        return Validated(valid, outcome)

    def write(self, validated: Validated) -> ImportReport:
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

    def apply(self, valid: list[Any], outcome: ImportReport) -> None:
        raise NotImplementedError

    def row_problems(self, values: Values) -> list[str]:
        """Problems of a row as a whole, once its cells are parsed (none here but date order)."""
        problem = self.date_problem(values)
        return [problem] if problem else []

    def _clean(self, record: Record, outcome: ImportReport) -> Values | None:
        """The record's parsed values by column name, or None after reporting its problems.

        A cell the CSV reader refused (``record.problems``) is reported with its column and
        not parsed; cells of columns the import does not know are not looked at.
        """
        if record.refused:
            outcome.errors.append(RowError(record.line, record.refused))
            return None
        row, refused = record.row, record.problems
        problems: list[str] = []
        if record.extra:
            problems.append("the row has more fields than the header")
        elif None in row.values():
            problems.append("the row has fewer fields than the header")
        values: Values = {}
        for column in self.present:
            name = column.name
            if refused and name in refused:
                problems.append(f"{column.label} {refused[name]}")
                continue
            try:
                values[name] = column.parse((row.get(name) or "").strip())
            except RuleError as exc:
                problems.append(str(exc))
        problems.extend(self.row_problems(values))
        key = (row.get(self.key) or "").strip()
        if key:
            first = self.first_seen.setdefault(self.key_of(key), record.line)
            if first != record.line:
                problems.append(f"{self.key} {shown(key)} already appeared on line {first}")
        if problems:
            outcome.errors.append(RowError(record.line, "; ".join(problems)))
            return None
        return values

    def date_problem(self, values: Values, stored: models.Model | None = None) -> str | None:
        """An end date before its start date; dates absent from ``values`` come from ``stored``.

        Without ``stored`` only pairs with both dates in ``values`` are checked.
        """
        return None if self.date_order is None else self.date_order.problem_in(values, stored)
