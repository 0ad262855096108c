"""Every read of patient records."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import DateTimeField, Exists, IntegerField, OuterRef, Q, QuerySet

from accounts.models import User
from care_team.models import CaseLoad
from ecm_admin.pagination import PageRequest, ordered_page_ids, paginate
from ecm_admin.statements import Select
from patients import search, worklist
from patients.models import (
    EcmAuthorization,
    EcmEligibilityInformation,
    EcmStatusHistory,
    Patient,
    member_id_key,
)
from patients.serializers import patient_list_item
from patients.sorting import ordered_patients

if TYPE_CHECKING:
    from patients.filtersets import PatientFilterSet

# The care team is rendered with every patient: provider, oLCM and iLCM names.
CASE_LOAD_RELATED = ("case_load__provider", "case_load__olcm", "case_load__ilcm")


def ecm_patients() -> QuerySet[Patient]:
    """Patients that are ECM patients (have eligibility information)."""
    return Patient.objects.filter(ecm_eligibility_information__isnull=False)


def member_keys(member_ids: Iterable[str]) -> dict[str, str]:
    """Each member id with its key (``patients.models.member_id_key``): two member ids are
    the same member when their keys are equal, as the unique constraint compares them.

    The database's ``UPPER()`` decides; it agrees with Python's on ASCII, so only member ids
    with other characters are sent to it (one query per 500 of them).
    """
    keys: dict[str, str] = {}
    others: list[str] = []
    for member_id in member_ids:
        if member_id.isascii():
            keys[member_id] = member_id.upper()
        else:
            others.append(member_id)
    others = list(dict.fromkeys(others))
    for start in range(0, len(others), 500):
        batch = others[start : start + 500]
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(["UPPER(CAST(%s AS TEXT))"] * len(batch)), batch)
            keys.update(zip(batch, cursor.fetchone(), strict=True))
    return keys


def eligibility_by_member_key(keys: Collection[str]) -> QuerySet[EcmEligibilityInformation]:
    """The eligibility rows whose member id has one of ``keys`` (from ``member_keys``), each
    with its key as ``member_key``: an index lookup per key (the unique index on the key)."""
    return EcmEligibilityInformation.objects.annotate(member_key=member_id_key()).filter(
        member_key__any_of=list(keys)
    )


def ecm_patient_count() -> int:
    """How many ECM patients there are: exact, and O(1) on PostgreSQL.

    Every eligibility row belongs to exactly one patient (a non-null one-to-one), so the
    count of eligibility rows is the count of ECM patients. On PostgreSQL triggers keep that
    number in ``patients_ecmpatientcount`` in the same transaction as the rows (migration
    0006); elsewhere the eligibility rows are counted.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT total FROM patients_ecmpatientcount WHERE id = 1")
            row = cursor.fetchone()
        if row is not None:
            return row[0]
    return EcmEligibilityInformation.objects.count()


# ECM patients (p) with their eligibility (e), case load (c) and its provider, oLCM and iLCM
# (pu, ou, iu): the FROM clause of the list rows, the detail and the care team.
ECM_PATIENTS_WITH_CARE_TEAM = """
    FROM patients_patient p
    JOIN patients_ecmeligibilityinformation e ON e.patient_id = p.id
    LEFT JOIN care_team_caseload c ON c.patient_id = p.id
    LEFT JOIN accounts_user pu ON pu.id = c.provider_id
    LEFT JOIN accounts_user ou ON ou.id = c.olcm_id
    LEFT JOIN accounts_user iu ON iu.id = c.ilcm_id
"""
CARE_TEAM_TABLES = {
    "p": Patient,
    "e": EcmEligibilityInformation,
    "c": CaseLoad,
    "pu": User,
    "ou": User,
    "iu": User,
}
_ELIGIBILITY_SUMMARY = [
    f"e.{name}"
    for name in (
        "id",
        "member_id",
        "cin",
        "ecm_service_auth_id",
        "ecm_provider_name",
        "ecm_benefit_auth_eff_date",
        "ecm_benefit_auth_end_date",
        "acuity_level",
        "member_record_status",
    )
]
_CASE_LOAD_SUMMARY = [
    "c.id",
    "c.provider_id",
    "c.olcm_id",
    "c.ilcm_id",
    *(f"{user}.{name}" for user in ("pu", "ou", "iu") for name in ("first_name", "last_name")),
]

# Only the columns the list representation renders (``serializers.patient_list_item``).
_PATIENT_ROWS = Select(
    "SELECT {columns}" + ECM_PATIENTS_WITH_CARE_TEAM + " WHERE p.id IN ({ids})",
    tables=CARE_TEAM_TABLES,
    columns=[
        "p.id",
        "p.first_name",
        "p.last_name",
        "p.date_of_birth",
        *_ELIGIBILITY_SUMMARY,
        *_CASE_LOAD_SUMMARY,
    ],
)


def patient_rows(ids: list[int]) -> list[dict]:
    """The list representation's rows for these ECM patient ids (any order): one query."""
    return _PATIENT_ROWS.dicts(ids=ids)


def patient_row_id(row: dict) -> int:
    """The patient id of a row of ``patient_rows`` or ``patient_detail``."""
    return row["p.id"]


_PATIENT_DETAIL = Select(
    "SELECT {columns}" + ECM_PATIENTS_WITH_CARE_TEAM + " WHERE p.id = %s",
    tables=CARE_TEAM_TABLES,
    columns=[
        *(
            f"p.{name}"
            for name in (
                "id",
                "first_name",
                "last_name",
                "date_of_birth",
                "gender",
                "street",
                "city",
                "state",
                "zip_code",
                "phone",
                "email",
                "services",
            )
        ),
        *_ELIGIBILITY_SUMMARY,
        "e.ecm_npi",
        "e.created_at",
        "e.updated_at",
        *_CASE_LOAD_SUMMARY,
        # Both from the (patient_id, created_at) index.
        (
            "activities_count",
            "(SELECT COUNT(*) FROM patients_activity a WHERE a.patient_id = p.id)",
            IntegerField(),
        ),
        (
            "last_activity_at",
            "(SELECT MAX(a.created_at) FROM patients_activity a WHERE a.patient_id = p.id)",
            DateTimeField(),
        ),
    ],
)
_AUTHORIZATIONS = Select(
    "SELECT {columns} FROM patients_ecmauthorization a WHERE a.patient_id = %s"
    " ORDER BY a.start_date DESC, a.id DESC",
    tables={"a": EcmAuthorization},
    columns=[
        f"a.{name}"
        for name in (
            "id",
            "auth_no",
            "auth_type",
            "authorization_type",
            "status",
            "start_date",
            "expiration_date",
        )
    ],
)
_STATUS_HISTORY = Select(
    "SELECT {columns} FROM patients_ecmstatushistory h WHERE h.patient_id = %s"
    " ORDER BY h.changed_at DESC, h.id DESC",
    tables={"h": EcmStatusHistory},
    columns=["h.id", "h.status", "h.changed_at", "h.changed_by"],
)


def patient_detail(*, patient_id: int) -> dict | None:
    """One ECM patient with everything the detail representation shows (three queries)."""
    patient = _PATIENT_DETAIL.first([patient_id])
    if patient is None:
        return None
    patient["ecm_authorizations"] = _AUTHORIZATIONS.dicts([patient_id])
    patient["ecm_status_history"] = _STATUS_HISTORY.dicts([patient_id])
    return patient


# --- the list -----------------------------------------------------------------------------


def patient_page(*, filters: PatientFilterSet, sort: tuple[str, bool], page: PageRequest) -> dict:
    """One page of the patient list, the response body: ``{"patients": [...], "pagination"}``.

    ``filters``: a validated FilterSet; ``sort``: ``(sort key, descending)`` from
    ``parse_sort``; ``page``: the page asked for. A search alone in id order on PostgreSQL is
    read from the search table alone (``search.search_table_page``: page and exact count);
    no filter in id order from the eligibility records' patient index alone
    (``_unfiltered_page_ids``); any other list is the filtered queryset in its order, counted
    by ``patient_count``.
    """
    sort_key, descending = sort
    rows = {"load": patient_rows, "row_id": patient_row_id, "render": patient_list_item}
    criteria = filters.criteria()
    term = search.search_table_term(criteria, sort_key)
    if term is not None:
        ids, total = search.search_table_page(term, descending, page.offset, page.per_page)
        return paginate(None, page, "patients", count=total, page_ids=ids, **rows)
    if not criteria and sort_key == "id":
        total = ecm_patient_count()
        ids = _unfiltered_page_ids(descending, page, total)
        return paginate(None, page, "patients", count=total, page_ids=ids, **rows)
    queryset = ordered_patients(filters.filtered(), sort_key, descending)
    return paginate(queryset, page, "patients", count=patient_count(filters), **rows)


def _unfiltered_page_ids(descending: bool, page: PageRequest, total: int) -> list[int]:
    """One page of every ECM patient's id in id order, read from the eligibility records'
    unique patient index alone: each ECM patient has exactly one eligibility record, so its
    patient ids are theirs, and a deep page walks one index instead of joining two (from the
    nearer end, as every list page)."""
    if page.offset >= total:
        return []
    order = "-patient_id" if descending else "patient_id"
    records = EcmEligibilityInformation.objects.order_by(order)
    return ordered_page_ids(records, page, total, field="patient_id")


def patient_count(filters: PatientFilterSet) -> int:
    """How many patients a validated FilterSet selects: exact.

    A search alone reads the counts kept per 3-character term, a worklist filter alone the
    counts kept by day, no filter the stored total (where the database keeps them); otherwise
    the rows of ``counted_rows`` are counted.
    """
    criteria = filters.criteria()
    if set(criteria) == {"search"}:
        known = search.search_gram_count(criteria["search"])
        if known is not None:
            return known
    known = _worklist_count(criteria, today=filters.today)
    if known is not None:
        return known
    rows = counted_rows(filters)
    return ecm_patient_count() if rows is None else rows.count()


def counted_rows(filters: PatientFilterSet) -> QuerySet | None:
    """The rows ``patient_count`` counts; None when no criterion is given (the stored total).

    The same criteria as the FilterSet's queryset, applied to the eligibility rows instead of
    the patients: every ECM patient has exactly one eligibility row, so counting those needs
    no join to the patient table (the status and acuity filters become index-only counts). A
    search alone on PostgreSQL counts rows of the search table alone.
    """
    criteria = filters.criteria()
    if not criteria:
        return None
    if set(criteria) == {"search"} and search.search_table_usable(criteria["search"]):
        return search.search_table_matches(criteria["search"])
    rows = EcmEligibilityInformation.objects.all()
    for name, value in criteria.items():
        condition = _worklist_condition(name, value, today=filters.today)
        rows = rows.filter(_ELIGIBILITY_CRITERIA[name](value) if condition is None else condition)
    return rows


def _worklist_count(criteria: dict, *, today) -> int | None:
    """A worklist filter alone (``criteria``: the given filters), counted from the counts
    kept by day (PostgreSQL); otherwise None."""
    if set(criteria) == {"authorization_expiring_within_days"}:
        days = criteria["authorization_expiring_within_days"]
        return worklist.expiring_count(days, on=today)
    if set(criteria) == {"missing_active_authorization"}:
        missing = criteria["missing_active_authorization"] == "true"
        return worklist.missing_active_count(missing, on=today)
    return None


def _worklist_condition(name: str, value, *, today) -> Q | None:
    """A worklist filter as a condition on an eligibility row; None for other filters."""
    if name == "authorization_expiring_within_days":
        return worklist.expiring_within(value, on=today, patient="patient_id")
    if name == "missing_active_authorization":
        return worklist.missing_active(value == "true", on=today, patient="patient_id")
    return None


def _has_case_load(**conditions) -> Exists:
    return Exists(CaseLoad.objects.filter(patient_id=OuterRef("patient_id"), **conditions))


# Each other filter of PatientFilterSet as a condition on an eligibility row (for
# ``counted_rows``). tests/patients/test_counts_and_search.py checks every one, and every pair,
# against the patient query.
_ELIGIBILITY_CRITERIA = {
    "search": lambda term: Q(patient_id__in=search.search_patient_ids(term)),
    "status": lambda value: Q(member_record_status=value),
    "acuity_level": lambda value: Q(acuity_level=value),
    "provider_id": lambda value: _has_case_load(provider_id=value),
    "olcm_user_id": lambda value: _has_case_load(olcm_id=value),
    "ilcm_user_id": lambda value: _has_case_load(ilcm_id=value),
    "authorization_status": lambda term: Exists(
        EcmAuthorization.objects.filter(patient_id=OuterRef("patient_id"), status__iexact=term)
    ),
    "missing_lcm": lambda value: (
        ~_has_case_load(
            **{
                "olcm": {"olcm_id__isnull": False},
                "ilcm": {"ilcm_id__isnull": False},
                "any": {"olcm_id__isnull": False, "ilcm_id__isnull": False},
            }[value]
        )
    ),
}
