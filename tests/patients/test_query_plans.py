"""PostgreSQL query plans: search and the main filters can use their indexes.

The test tables are tiny, so the planner would rightly prefer a sequential scan; with
sequential scans priced out (``enable_seqscan = off``) a plan still scans a table
sequentially only when no index matches the query's expression. That is what these tests
catch: an index whose expression drifted from the query's.
"""

import datetime as dt
import re
from unittest import mock

import pytest
from django.db import connection

from patients import selectors
from patients.filtersets import PatientFilterSet
from patients.models import EcmEligibilityInformation
from patients.search import SearchTableStatements
from patients.sorting import order_patients
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _explain(queryset) -> str:
    return _explain_sql(*queryset.query.sql_with_params())


def _explain_sql(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _plan(filters: dict, sort_by: str = "id", sort_dir: str = "ASC", count: bool = False) -> str:
    """The plan of what the list runs: its count (``count=True``) or its first page's ids."""
    filterset = PatientFilterSet(data=filters, queryset=selectors.ecm_patients())
    queryset = order_patients(filterset.filtered(), sort_by, sort_dir)
    if count:
        rows = selectors.counted_rows(filterset)
        assert rows is not None, "an unfiltered list reads the stored total"
        return _explain(rows.values("pk").order_by())
    return _explain(queryset.values_list("pk")[:25])


@pytest.fixture(autouse=True)
def data():
    """5,000 patients: statistics in which a selective index beats reading everything."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO patients_patient (first_name, last_name, gender, phone, email, street,
                city, state, zip_code, services, created_at, updated_at)
            SELECT 'F' || md5(i::text), 'L' || (i % 500), '', '', '', '', '', '', '',
                '[]', now(), now()
            FROM generate_series(1, 5000) AS i
            """
        )
        cursor.execute(
            """
            INSERT INTO patients_ecmeligibilityinformation (patient_id, member_id, cin,
                ecm_service_auth_id, ecm_provider_name, ecm_npi, acuity_level,
                member_record_status, created_at, updated_at)
            SELECT id, 'MEM' || lpad(id::text, 10, '0'), lpad(id::text, 8, '0') || 'A', '', '',
                '', (ARRAY['low', 'medium', 'high'])[id % 3 + 1],
                (ARRAY['new_member', 'continuing_member', 'pending_member',
                       'terminated_member', 'inactive_member'])[id % 5 + 1],
                now(), now()
            FROM patients_patient
            """
        )
    team = [factories.UserFactory().pk for _ in range(30)]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO care_team_caseload (patient_id, provider_id, olcm_id, ilcm_id,
                created_at, updated_at)
            SELECT id, (%s::bigint[])[id %% 10 + 1], (%s::bigint[])[id %% 10 + 1],
                (%s::bigint[])[id %% 10 + 1], now(), now()
            FROM patients_patient
            """,
            [team[:10], team[10:20], team[20:]],
        )
    with connection.cursor() as cursor:
        # An authorization per patient, approved for one in fifty: a selective status.
        cursor.execute(
            """
            INSERT INTO patients_ecmauthorization (patient_id, auth_no, auth_type,
                authorization_type, status, start_date, expiration_date, created_at, updated_at)
            SELECT id, 'AUTH' || lpad(id::text, 10, '0'), 'ES', 'Form I',
                CASE WHEN id % 50 = 0 THEN 'Approved' ELSE 'Pending' END,
                DATE '2024-01-01', DATE '2024-12-31', now(), now()
            FROM patients_patient
            """
        )
        # Move the rows just inserted from the GIN pending lists into the indexes proper, as
        # (auto)vacuum would: a long pending list makes every trigram lookup look expensive.
        cursor.execute("SELECT gin_clean_pending_list('patient_search_trgm'::regclass)")
        cursor.execute("ANALYZE")


@pytest.mark.parametrize("term", ["mar", "john do", "MEM000000123", "xyz12"])
@pytest.mark.parametrize("descending", [False, True])
def test_search_reads_the_search_table_by_its_trigram_index(term, descending):
    """Every statement a search alone runs (its estimate, its page with the count, its count
    and its page) reads the search table through its trigram index or its primary key."""
    statements = SearchTableStatements(term, descending)
    for sql, params in (
        statements.counted_page(0, 25),
        statements.count(),
        statements.page(0, 25),
        statements.page(0, 25, reverse=True),
    ):
        plan = _explain_sql(sql, params)
        assert "patients_patientsearchtext" in plan, plan
        assert "Seq Scan" not in plan, plan
    for sql, params in (statements.counted_page(0, 25), statements.count()):
        assert "patient_search_trgm" in _explain_sql(sql, params)
    # With a filter beside it, the search is a subquery of the patient query.
    plan = _plan({"search": term, "status": "new_member"})
    assert "patient_search_trgm" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_search_with_a_filter_counts_through_the_trigram_index():
    plan = _plan({"search": "mar", "status": "new_member"}, count=True)
    assert "patient_search_trgm" in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"status": "new_member"}, "elig_status_patient"),
        ({"acuity_level": "high"}, "elig_acuity_patient"),
        ({"authorization_status": "approved"}, "auth_status_upper_patient"),
        ({"provider_id": "1"}, "care_team_caseload_provider_id"),
        ({"olcm_user_id": "1"}, "caseload_olcm_"),
        ({"ilcm_user_id": "1"}, "caseload_ilcm_patient"),
    ],
)
def test_filters_use_an_index(filters, index):
    plan = _plan(filters, count=True)
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize(
    ("sort_by", "sort_dir", "index"),
    [
        *[
            (sort_by, sort_dir, index)
            for sort_by, index in [
                ("name", "patient_sort_name"),
                ("last_name", "patient_sort_last_name"),
                ("first_name", "patient_sort_first_name"),
                ("created_at", "patient_sort_created"),
                ("updated_at", "patient_sort_updated"),
                ("member_id", "member_id"),
            ]
            for sort_dir in ("ASC", "DESC")
        ],
        ("member_record_status", "ASC", "elig_status_patient"),
        ("member_record_status", "DESC", "elig_status_patient"),
        ("date_of_birth", "ASC", "patient_sort_dob"),
        ("date_of_birth", "DESC", "patient_sort_dob_desc"),
        ("ecm_benefit_auth_eff_date", "ASC", "elig_eff_date_patient"),
        ("ecm_benefit_auth_eff_date", "DESC", "elig_eff_date_desc"),
        ("ecm_benefit_auth_end_date", "ASC", "elig_end_date_patient"),
        ("ecm_benefit_auth_end_date", "DESC", "elig_end_date_desc"),
        ("acuity_level", "ASC", "elig_acuity_rank"),
        ("acuity_level", "DESC", "elig_acuity_rank_desc"),
    ],
)
def test_sorted_first_page_walks_an_index(sort_by, sort_dir, index):
    plan = _plan({}, sort_by=sort_by, sort_dir=sort_dir)
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize("term", ["MEM00000", "l1", "mar"])
def test_counted_page_gathers_every_match_through_the_trigram_index(term):
    """Asked for 25 rows in id order, the planner could walk the primary key and filter the
    whole table; the count needs every match, so the page with its count reads them from the
    trigram index, whatever the term's expected share of the table."""
    plan = _explain_sql(*SearchTableStatements(term, descending=False).counted_page(0, 25))
    assert "patient_search_trgm" in plan, plan
    assert "patients_patientsearchtext_pkey" not in plan, plan


# --- the authorization worklist -----------------------------------------------------------------
# The data's approved authorizations (one patient in fifty) run through 2024-12-31.
WORKLIST_DAY = dt.date(2024, 12, 15)


AUTHORIZATIONS_BY_INDEX = (
    r"Index (Only )?Scan (Backward )?using"
    r" (auth_status_upper_patient|patients_ecmauthorization_patient_id\w*)"
    r" on patients_ecmauthorization"
)


@pytest.fixture
def worklist_day():
    with mock.patch("django.utils.timezone.localdate", return_value=WORKLIST_DAY):
        yield


@pytest.mark.parametrize(
    "filters",
    [
        {"authorization_expiring_within_days": "30"},
        {"authorization_expiring_within_days": "30", "status": "new_member"},
        {"authorization_expiring_within_days": "30", "search": "mar"},
    ],
)
@pytest.mark.parametrize("sort_by", ["id", "name"])
def test_expiring_reads_the_kept_latest_end_dates_by_their_index(worklist_day, filters, sort_by):
    """The page and the count of a filter combined with others: the latest end dates kept
    per patient, a range of their index; never the authorizations themselves."""
    plans = [_plan(filters, sort_by=sort_by)]
    if len(filters) > 1:
        plans.append(_plan(filters, count=True))
    for plan in plans:
        assert "patients_authcoverage_latest_end" in plan or (
            "patients_authorizationcoverage_pkey" in plan
        ), plan
        assert "Seq Scan" not in plan, plan
        assert "patients_ecmauthorization" not in plan, plan


@pytest.mark.parametrize(
    "filters",
    [
        {"missing_active_authorization": "true"},
        {"missing_active_authorization": "false"},
        {"missing_active_authorization": "true", "status": "new_member"},
        {"missing_active_authorization": "false", "acuity_level": "high"},
    ],
)
def test_missing_active_reads_the_approved_authorizations_by_their_index(worklist_day, filters):
    """Each patient's authorizations by an index on the patient (its own, or the one on
    status and patient)."""
    plans = [_plan(filters), _plan(filters, sort_by="name", sort_dir="DESC")]
    if len(filters) > 1:
        plans.append(_plan(filters, count=True))
    for plan in plans:
        assert re.search(AUTHORIZATIONS_BY_INDEX, plan), plan
        assert "Seq Scan" not in plan, plan


def test_a_worklist_filter_alone_is_counted_from_the_counts_by_day(worklist_day):
    from patients import worklist

    for sql in (worklist._ENDING_BETWEEN, worklist._COVERED_ON):
        params = [WORKLIST_DAY, WORKLIST_DAY][: sql.count("%s")]
        plan = _explain_sql(sql, params)
        assert "patients_authdaycount_day" in plan, plan
        assert "Seq Scan" not in plan, plan
    assert worklist.expiring_count(30, on=WORKLIST_DAY) == 100
    assert worklist.missing_active_count(True, on=WORKLIST_DAY) == 4900


def test_the_kept_rows_of_some_patients_are_found_by_patient():
    """What the triggers run for the patients a statement touched: their authorizations by the
    (status, patient) index, their kept rows by the primary key."""
    sql = "SELECT * FROM patients_authorizationcoverage_source WHERE patient_id = ANY (%s)"
    plan = _explain_sql(sql, [[50, 100, 150]])
    assert re.search(AUTHORIZATIONS_BY_INDEX, plan), plan
    assert re.search(r"Index Cond: \(.*patient_id = ANY", plan), plan
    assert "Seq Scan" not in plan, plan


def test_lookups_by_member_id_read_the_case_insensitive_unique_index():
    """The importers, the API's uniqueness check and ``bulk_assign_lcms`` find members by
    ``UPPER(member_id)``: the expression of the unique index that makes member ids unique
    regardless of case."""
    from care_team.selectors import ecm_patient_ids_by_member_id

    stored = EcmEligibilityInformation.objects.order_by("pk").values_list("member_id", flat=True)
    member_ids = [member_id.lower() for member_id in stored[:3]]
    keys = selectors.member_keys(member_ids).values()
    lookups = [
        selectors.eligibility_by_member_key(keys).select_related("patient").order_by("pk"),
        selectors.eligibility_by_member_key(keys).values_list("member_key", "patient_id"),
    ]
    for queryset in lookups:
        plan = _explain(queryset)
        assert "patients_eligibility_member_id_upper_unique" in plan, plan
        assert "Seq Scan on patients_ecmeligibilityinformation" not in plan, plan
    assert len(ecm_patient_ids_by_member_id(member_ids)) == 3
