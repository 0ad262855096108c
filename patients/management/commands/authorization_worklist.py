"""``manage.py authorization_worklist [--expiring-within-days N] [--missing-active]
[--output OUT.csv]``: the ECM patients whose authorizations need attention, as CSV.

The rule is ``patients.worklist``'s, the one of the list filters
``authorization_expiring_within_days`` and ``missing_active_authorization``. Given both options,
the worklist holds the patients matching either (expiring soon, or without an active
authorization): the two rarely select the same patient, so requiring both would leave the
list nearly empty.

One row per patient, in patient id order: ``member_id, name, olcm, latest_authorization,
latest_authorization_end_date`` (the latest approved authorization's ``auth_no`` and
expiration date; blank when the patient has none, the date blank when it is open-ended).
Any number of patients, read 1,000 at a time (keyed by patient id), so memory stays the same
whatever the size; each thousand is recorded in the access audit as it is written.

``--output`` writes a file readable by its owner only, whole or not at all (a temporary file
renamed at the end: a failure leaves any earlier file as it was); the summary line goes to
stdout. Without it the CSV goes to stdout and the summary to stderr. On a terminal a progress
bar is drawn on stderr. Exit status 1 when the options are wrong or the worklist could not be
written.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError
from django.db.models import QuerySet

from audit.commands import AuditedCommand
from audit.models import CMD_PREFIX, Action
from audit.services import MAX_IDS_PER_EVENT, events_record
from ecm_admin.csvfiles import spreadsheet_cell
from ecm_admin.formats import full_name, iso_date
from ecm_admin.progress import Progress
from patients import selectors, worklist

COLUMNS = ["member_id", "name", "olcm", "latest_authorization", "latest_authorization_end_date"]
# Patients per read (and per access event).
CHUNK = MAX_IDS_PER_EVENT


def _days(value: str) -> int:
    try:
        days = int(value.strip())
    except ValueError:
        days = -1
    if not 0 <= days <= worklist.MAX_EXPIRING_WITHIN_DAYS:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 to {worklist.MAX_EXPIRING_WITHIN_DAYS}"
        )
    return days


class Command(AuditedCommand):
    help = (
        "Write the authorization worklist as CSV: the ECM patients whose latest approved "
        "authorization ends within N days, and/or who have no approved authorization "
        "covering today."
    )
    audit_action = Action.READ_LIST

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expiring-within-days",
            type=_days,
            metavar="N",
            help="patients whose latest approved authorization ends between today and "
            "today + N days (0-365)",
        )
        parser.add_argument(
            "--missing-active",
            action="store_true",
            help="patients with no approved authorization covering today",
        )
        parser.add_argument("--output", metavar="OUT.csv", help="write here instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["expiring_within_days"]
        missing = options["missing_active"]
        if days is None and not missing:
            raise CommandError("Give --expiring-within-days N, --missing-active, or both")
        today = worklist.today()
        parts = []
        if days is not None:
            parts.append(worklist.expiring_within(days, on=today))
        if missing:
            parts.append(worklist.missing_active(True, on=today))
        patients = selectors.ecm_patients().filter(reduce(or_, parts))

        def total() -> int | None:  # a single criterion is counted from the kept counts
            if days is None:
                return worklist.missing_active_count(True, on=today)
            return None if missing else worklist.expiring_count(days, on=today)

        what = _description(days, missing)
        output = options["output"]
        if output:
            count = self._write_file(Path(output), patients, total)
            self.stdout.write(f"Wrote {count} patients ({what}) to {output}")
        else:
            stdout = self.stdout if self.stdout is not None else sys.stdout
            count = self._write(stdout, patients, total)
            self.stderr.write(f"Wrote {count} patients ({what})")

    def _write_file(self, path: Path, patients: QuerySet, total) -> int:
        folder = path.parent
        try:
            fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                count = self._write(handle, patients, total)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return count

    def _write(self, handle: TextIO, patients: QuerySet, total: Callable[[], int | None]) -> int:
        """Every patient of ``patients`` as a row, a chunk at a time; how many. ``total``:
        how many there are, when known cheaper than counting them (for the bar)."""
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        bar = Progress(None, label="Writing the worklist")
        count = 0
        try:
            if bar.enabled:  # the count is a query of its own: only for the bar
                known = total()
                bar.total = known if known is not None else patients.count()
            with bar:
                for ids in _id_chunks(patients):
                    rows = _rows(ids)
                    writer.writerows(rows)
                    self._audit_chunk(ids)
                    count += len(rows)
                    bar.advance(len(ids))
        except DatabaseError as exc:
            raise CommandError(
                f"The database failed after {count} patients ({type(exc).__name__}): "
                "the worklist is incomplete"
            ) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write the worklist: {exc.strerror or exc}") from exc
        return count

    def _audit_chunk(self, ids: list[int]) -> None:
        """The patients just written, recorded as read (the run's own event, with its exit
        status, follows at the end)."""
        events_record(
            source=f"{CMD_PREFIX}{self.audit_name}",
            action=self.audit_action,
            status_code=0,
            patient_ids=ids,
        )


def _id_chunks(patients: QuerySet) -> Iterator[list[int]]:
    """The ids of ``patients`` in order, ``CHUNK`` at a time, each read after the last."""
    last = 0
    while ids := list(
        patients.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:CHUNK]
    ):
        yield ids
        last = ids[-1]


def _rows(ids: list[int]) -> list[list[str]]:
    """The worklist rows of these patients, in id order: two queries."""
    rows = {selectors.patient_row_id(row): row for row in selectors.patient_rows(ids)}
    latest = worklist.latest_approved(ids)
    lines = []
    for patient_id in ids:
        row = rows.get(patient_id)
        if row is None:  # no longer an ECM patient
            continue
        authorization = latest.get(patient_id)
        values = (
            row["e.member_id"],
            full_name(row["p.first_name"], row["p.last_name"]),
            full_name(row["ou.first_name"], row["ou.last_name"]),
            authorization.auth_no if authorization else None,
            iso_date(authorization.expiration_date) if authorization else None,
        )
        lines.append([spreadsheet_cell(value) for value in values])
    return lines


def _description(days: int | None, missing: bool) -> str:
    parts = []
    if days is not None:
        parts.append(f"latest approved authorization ending within {days} days")
    if missing:
        parts.append("no approved authorization covering today")
    return " or ".join(parts)
