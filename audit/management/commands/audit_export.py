"""``manage.py audit_export``: the access audit trail as CSV, for a compliance review.

``audit_export --since 2026-01-01 --until 2026-01-31 [--user ID|EMAIL] [--patient ID]
[--output FILE]``. Both dates are included (UTC days). Writes to stdout unless ``--output``
names a file (created readable by its owner only). The export is itself recorded.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from accounts.models import User
from audit.commands import AuditedCommand
from audit.models import AccessEvent, Action
from ecm_admin.csvfiles import spreadsheet_cell

COLUMNS = [
    "id",
    "occurred_at",
    "source",
    "action",
    "user_id",
    "user_email",
    "token_prefix",
    "method",
    "route",
    "status_code",
    "request_id",
    "client_ip",
    "patient_ids",
]


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def events_about_patient(queryset: QuerySet, patient_id: int) -> QuerySet:
    """Events whose ``patient_ids`` contain ``patient_id``.

    PostgreSQL: JSON containment, served by the GIN index of migration 0002. SQLite: the
    ids are unpacked with ``json_each`` (a scan within the date range; SQLite is for local use).
    """
    if connection.vendor == "postgresql":
        return queryset.filter(patient_ids__contains=[patient_id])
    table = AccessEvent._meta.db_table
    match = RawSQL(
        f'EXISTS (SELECT 1 FROM json_each("{table}"."patient_ids") WHERE value = %s)',
        (patient_id,),
    )
    return queryset.alias(about_patient=match).filter(about_patient=True)


class Command(AuditedCommand):
    help = "Export access events between two dates (inclusive) as CSV."
    audit_action = Action.EXPORT

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="first day, YYYY-MM-DD (UTC)")
        parser.add_argument("--until", required=True, help="last day, YYYY-MM-DD (UTC)")
        parser.add_argument("--user", help="only events of this user (id or email)")
        parser.add_argument("--patient", help="only events about this patient id")
        parser.add_argument("--output", help="write to this file instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        since, until = _date(options["since"]), _date(options["until"])
        if until < since:
            raise CommandError("--until is before --since")
        start = dt.datetime.combine(since, dt.time.min, dt.UTC)
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, dt.UTC)
        events = AccessEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        if options["user"]:
            events = events.filter(user_id=self._user_id(options["user"]))
        if options["patient"]:
            patient_id = self._patient_id(options["patient"])
            events = events_about_patient(events, patient_id)
            self.audit_patient_ids.append(patient_id)
        events = events.select_related("user").order_by("occurred_at", "id")

        count = self._write(events, options["output"])
        where = options["output"] or "stdout"
        self.stderr.write(f"Exported {count} access events to {where}")

    def _write(self, events: QuerySet, output: str | None) -> int:
        if output:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            handle = os.fdopen(fd, "w", newline="", encoding="utf-8")
        else:
            handle = self.stdout if self.stdout is not None else sys.stdout
        count = 0
        try:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            for event in events.iterator(chunk_size=2000):
                writer.writerow(
                    spreadsheet_cell(value)
                    for value in (
                        event.pk,
                        event.occurred_at.isoformat(timespec="milliseconds"),
                        event.source,
                        event.action,
                        event.user_id,
                        _user_email(event),
                        event.token_prefix,
                        event.method,
                        event.route,
                        event.status_code,
                        event.request_id,
                        event.client_ip,
                        " ".join(str(pid) for pid in event.patient_ids or []),
                    )
                )
                count += 1
        finally:
            if output:
                handle.close()
        return count

    @staticmethod
    def _user_id(value: str) -> int:
        value = value.strip()
        if value.isascii() and value.isdigit():
            return int(value)
        user_id = User.objects.filter(email__iexact=value).values_list("pk", flat=True).first()
        if user_id is None:
            raise CommandError(f"--user {value}: no user with that email (give the id instead)")
        return user_id

    @staticmethod
    def _patient_id(value: str) -> int:
        value = value.strip()
        if not (value.isascii() and value.isdigit() and int(value) > 0):
            raise CommandError("--patient must be a patient id (a positive integer)")
        return int(value)


def _user_email(event: AccessEvent) -> str:
    if event.user_id is None:
        return ""
    try:
        return event.user.email if event.user else ""
    except User.DoesNotExist:  # deleted since; the id stays in the record
        return ""
