"""The benchmark harness's pure pieces (bench/workload.py): no database, no network."""

import csv
import io
import random

import pytest

from bench import workload
from patients.rules import cin_is_valid, email_is_valid, npi_is_valid, parse_date


def test_percentile_interpolates_between_ranks():
    values = [10.0, 20.0, 30.0, 40.0]
    assert workload.percentile(values, 0) == 10.0
    assert workload.percentile(values, 100) == 40.0
    assert workload.percentile(values, 50) == 25.0
    assert workload.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert workload.percentile([7.0], 95) == 7.0
    assert workload.percentile([], 50) is None
    with pytest.raises(ValueError):
        workload.percentile(values, 101)


def test_verdict():
    assert workload.verdict(10.0, 15.0) == "PASS"
    assert workload.verdict(15.0, 15.0) == "PASS"
    assert workload.verdict(15.1, 15.0) == "FAIL"
    assert workload.verdict(None, 15.0) == "n/a"
    assert workload.verdict(1.0, None) == "n/a"


@pytest.mark.parametrize("number", [0, 1, 42, 1000, 99_999_999, 9_000_000_001])
def test_make_npi_passes_the_apps_check(number):
    npi = workload.make_npi(number)
    assert len(npi) == 10
    assert npi_is_valid(npi)


def test_npi_check_digit_known_value():
    # CMS example: 123456789 -> check digit 3 (NPI 1234567893).
    assert workload.npi_check_digit("123456789") == "3"
    with pytest.raises(ValueError):
        workload.npi_check_digit("12345")


def test_member_id_and_cin_shapes():
    assert workload.member_id(1) == "MEM0000000001"
    assert workload.member_id(9_000_000_001).startswith(workload.IMPORT_MEMBER_PREFIX)
    rng = random.Random(1)
    assert all(cin_is_valid(workload.make_cin(rng)) for _ in range(100))


def test_import_member_rows_are_valid_and_deterministic():
    rows = list(workload.import_member_rows(200, seed=3))
    assert rows == list(workload.import_member_rows(200, seed=3))
    assert len({row["member_id"] for row in rows}) == 200
    for row in rows:
        assert set(row) == set(workload.IMPORT_MEMBER_COLUMNS)
        assert row["member_id"].startswith(workload.IMPORT_MEMBER_PREFIX)
        assert cin_is_valid(row["cin"])
        assert npi_is_valid(row["ecm_npi"])
        assert email_is_valid(row["email"])
        assert parse_date(row["date_of_birth"]) is not None
        eff = parse_date(row["ecm_benefit_auth_eff_date"])
        assert parse_date(row["ecm_benefit_auth_end_date"]) >= eff
        assert row["acuity_level"] in ("low", "medium", "high", "")
        assert row["gender"] in ("male", "female", "other", "unknown", "")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=workload.IMPORT_MEMBER_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    assert buffer.getvalue().count("\n") == 201


def test_bulk_assign_body_has_distinct_patients_and_an_lcm_each():
    body = workload.bulk_assign_body(
        random.Random(5), patient_ids=range(1, 5001), lcm_ids=[2, 3, 4], provider_ids=[9]
    )
    items = body["assignments"]
    assert len(items) == 1000
    assert len({item["patient_id"] for item in items}) == 1000
    assert all("olcm_user_id" in item or "ilcm_user_id" in item for item in items)


def test_bulk_assign_rows_name_at_least_one_lcm():
    rows = list(
        workload.bulk_assign_rows(
            500, 1, patient_ids=range(1, 1000), lcm_ids=[2, 3], provider_ids=[7, 8]
        )
    )
    assert len({row["patient_id"] for row in rows}) == 500
    assert all(row["olcm_user_id"] or row["ilcm_user_id"] for row in rows)
    assert set(rows[0]) == set(workload.BULK_ASSIGN_COLUMNS)


def test_read_routes_cover_every_target_and_a_deep_page():
    routes = workload.read_routes(
        patients=100_000, sample_ids=[5, 17, 4997, 80_000], caseload=(42, 5_123)
    )
    assert [route.name for route in routes] == list(workload.READ_ROUTE_NAMES)
    by_name = {route.name: route for route in routes}
    assert by_name["lcm_patients"].variants[0].path.endswith("/lead_care_managers/42/patients")
    assert by_name["lcm_patients"].expected_total == 5_123
    assert (
        by_name["patient_lcms_as_of"]
        .variants[1]
        .path.endswith("/patients/17/lead_care_managers?as_of=2025-07-01")
    )
    assert len(by_name["patient_lcms_history"].variants) == 4
    assert by_name["list_deep"].variants[0].path.endswith("page=3999&per_page=25")
    assert by_name["search_member_id_partial"].variants[0].path.endswith("search=MEM00000049")
    assert len(by_name["detail"].variants) == 4
    assert all(v.path.startswith(workload.API) for r in routes for v in r.variants)
    with pytest.raises(ValueError):
        workload.read_routes(patients=10, sample_ids=[], caseload=(1, 1))


def test_sql_outline_elides_the_top_level_select_list_only():
    statement = (
        'SELECT "a"."id", "a"."first_name", "a"."last_name", "a"."email", "a"."phone", '
        '(SELECT COUNT(*) FROM "b" WHERE "b"."a_id" = "a"."id") AS "n" '
        'FROM "a" WHERE "a"."name" LIKE \'% FROM %\' ORDER BY "a"."id" LIMIT 25'
    )
    assert workload.sql_outline(statement) == (
        'SELECT … FROM "a" WHERE "a"."name" LIKE \'% FROM %\' ORDER BY "a"."id" LIMIT 25'
    )
    short = 'SELECT COUNT(*) AS "__count" FROM "a"'
    assert workload.sql_outline(short) == short
    assert workload.sql_outline("x " * 500, limit=20).endswith("…")


def test_markdown_table_escapes_pipes():
    table = workload.markdown_table(["a", "b"], [["x|y", 1]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_plan_hints():
    plan = "\n".join(
        [
            "Aggregate  (cost=1.00..2.00 rows=1 width=8) (actual time=1.0..1.0 rows=1 loops=1)",
            "  ->  Parallel Seq Scan on patients_patient  (cost=0.00..1.00 rows=1 width=0)",
            "  ->  Seq Scan on patients_patient  (cost=0.00..1.00 rows=1 width=0)",
            "        Sort Method: external merge  Disk: 1234kB",
            "Planning Time: 1.234 ms",
            "JIT:",
            "  Functions: 4",
            "  Timing: Generation 0.5 ms, Inlining 0.0 ms, Optimization 1.0 ms, Total 12.5 ms",
            "Execution Time: 20.5 ms",
        ]
    )
    assert workload.plan_hints(plan) == [
        "Seq Scan on patients_patient",
        "sort spills to disk (1234kB)",
        "JIT compilation 12.5 ms",
        "planning 1.23 ms",
        "execution 20.50 ms",
    ]
