"""The authorization worklist: the one definition of which ECM patients' authorizations need
attention. The list filters (``PatientFilterSet``), the ``authorization_worklist`` command and
the Django admin's list filters all call it.

- **Approved**: an authorization whose ``status`` is "approved" in any case (``Approved``,
  ``APPROVED``). Other statuses never count, whatever their dates.
- **Today** is the service's date: ``timezone.localdate()``, in the ``TIME_ZONE`` setting
  (UTC), read once per request or command run.
- **Dates**: both ends are inclusive. A missing ``start_date`` means "since always", a missing
  ``expiration_date`` "open-ended" (never ends).
- **The latest approved authorization** is the approved one with the greatest expiration
  date, an open-ended one before any dated one (ties: the later ``start_date``, then the
  higher id).
- ``authorization_expiring_within_days=N`` (0-365): the latest approved authorization ends
  between today and today + N days inclusive. So a patient whose authorization ends in ten
  days but who already has an approved renewal ending next year is not expiring, nor is one
  whose latest approved authorization is open-ended or ended before today; ``0`` is "ends
  today".
- ``missing_active_authorization=true``: no approved authorization covers today (start on or
  before today, or none; expiration on or after today, or none); ``false``: at least one does.
  A patient without any approved authorization is missing one.

On PostgreSQL, "expiring" reads the latest end date kept per patient by triggers
(``patients_authorizationcoverage``, migration 0012), and either filter alone is counted from
counts kept by day, without visiting the patients; elsewhere both read the authorizations.
``tests/patients/test_worklist_kept.py`` checks on PostgreSQL that the kept rows and counts agree
with the definition read from the authorizations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from patients import selectors
from patients.models import AuthorizationCoverage, EcmAuthorization

APPROVED = "approved"
MAX_EXPIRING_WITHIN_DAYS = 365
# The admin's choices of "Authorization expiring within".
EXPIRING_CHOICES = (7, 30, 60, 90)


def today() -> dt.date:
    """The service's date (``TIME_ZONE``), the "today" of every worklist rule."""
    return timezone.localdate()


def approved_authorizations() -> QuerySet[EcmAuthorization]:
    return EcmAuthorization.objects.filter(status__iexact=APPROVED)


def _stored() -> bool:
    return connection.vendor == "postgresql"


def expiring_within(days: int, *, on: dt.date, patient: str = "pk", stored=None) -> Q:
    """Rows whose patient (``patient``: the field holding its id) has a latest approved
    authorization ending between ``on`` and ``on + days`` inclusive.

    ``stored`` (default: on PostgreSQL) reads the kept latest end dates, one indexed range;
    otherwise the authorizations: one ending in the window, none approved ending after it or
    open-ended.
    """
    last = _days_after(on, days)
    if _stored() if stored is None else stored:
        ends = AuthorizationCoverage.objects.filter(latest_end__range=(on, last))
        return Q(**{f"{patient}__in": ends.values("patient_id")})
    mine = approved_authorizations().filter(patient_id=OuterRef(patient))
    return Q(Exists(mine.filter(expiration_date__range=(on, last)))) & ~Q(
        Exists(mine.filter(Q(expiration_date__gt=last) | Q(expiration_date__isnull=True)))
    )


def _days_after(on: dt.date, days: int) -> dt.date:
    try:
        return on + dt.timedelta(days=days)
    except OverflowError:  # past 9999-12-31
        return dt.date.max


def missing_active(missing: bool, *, on: dt.date, patient: str = "pk") -> Q:
    """Rows whose patient has no approved authorization covering ``on`` (``missing``), or
    has one (``not missing``)."""
    covering = approved_authorizations().filter(
        Q(start_date__isnull=True) | Q(start_date__lte=on),
        Q(expiration_date__isnull=True) | Q(expiration_date__gte=on),
        patient_id=OuterRef(patient),
    )
    return ~Q(Exists(covering)) if missing else Q(Exists(covering))


# --- counts (PostgreSQL) ----------------------------------------------------------------------

# The kept counts by day (migration 0012): how many ECM patients' latest approved
# authorization ends on each day of a window; how many are covered on a day (the sum of the
# deltas of every day up to it, '-infinity' included), beside the stored number of ECM patients
# (migration 0006).
_ENDING_BETWEEN = (
    "SELECT coalesce(sum(patients), 0)::bigint FROM patients_authorizationdaycount"
    " WHERE measure = 'latest_end' AND day BETWEEN %s AND %s"
)
_COVERED_ON = (
    "SELECT coalesce(sum(patients), 0)::bigint,"
    " (SELECT total FROM patients_ecmpatientcount WHERE id = 1)"
    " FROM patients_authorizationdaycount WHERE measure = 'covered' AND day <= %s"
)


def _row(sql: str, params: list) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def expiring_count(days: int, *, on: dt.date) -> int | None:
    """How many ECM patients ``expiring_within(days)`` selects, from the counts kept by day
    (PostgreSQL: one indexed sum); None elsewhere."""
    if not _stored():
        return None
    return _row(_ENDING_BETWEEN, [on, _days_after(on, days)])[0]


def missing_active_count(missing: bool, *, on: dt.date) -> int | None:
    """How many ECM patients ``missing_active(missing)`` selects, from the counts kept by day
    and the stored number of ECM patients (PostgreSQL: one query); None elsewhere."""
    if not _stored():
        return None
    covered, total = _row(_COVERED_ON, [on])
    if not missing:
        return covered
    return (selectors.ecm_patient_count() if total is None else total) - covered


# --- the latest approved authorization of each patient ----------------------------------------


def latest_approved(patient_ids: Iterable[int]) -> dict[int, EcmAuthorization]:
    """Each patient's latest approved authorization (the order of the definition above), for
    the patients that have one: one query."""
    rows = (
        approved_authorizations()
        .filter(patient_id__in=list(patient_ids))
        .only("id", "patient_id", "auth_no", "start_date", "expiration_date")
        .order_by("patient_id")
    )
    latest: dict[int, EcmAuthorization] = {}
    for authorization in rows:
        current = latest.get(authorization.patient_id)
        if current is None or _recency(authorization) > _recency(current):
            latest[authorization.patient_id] = authorization
    return latest


def _recency(authorization: EcmAuthorization) -> tuple:
    end = authorization.expiration_date
    start = authorization.start_date
    return (
        end is None,
        end or dt.date.min,
        start is not None,
        start or dt.date.min,
        authorization.pk,
    )
