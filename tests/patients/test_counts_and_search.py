"""The list's counts, its search and its paging shortcuts give the same answers as the plain
patient query (both databases); on PostgreSQL the triggers of migrations 0006 and 0009 keep the
search table, the stored total and the per-term counts right under every kind of write."""

import itertools
import re
import threading
from collections import Counter

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from care_team.models import CaseLoad
from ecm_admin.pagination import PageRequest, paginate
from patients import selectors, services
from patients.filtersets import PatientFilterSet
from patients.models import EcmEligibilityInformation, Patient, PatientSearchText
from patients.sorting import order_patients
from tests import factories

pytestmark = pytest.mark.django_db
BASE = "/v1/admin/clinic/ecm"


@pytest.fixture
def population():
    """Patients spread over every filter's values, names that overlap, and non-ECM patients."""
    lcms = [factories.lcm_user() for _ in range(3)]
    providers = [factories.provider_user() for _ in range(2)]
    statuses = ["new_member", "continuing_member", "pending_member", "terminated_member"]
    acuities = ["low", "medium", "high", ""]
    names = [("Maria", "Garcia"), ("Mario", "Lopez"), ("Ann", "Marsh"), ("John", "Doe")]
    for i in range(24):
        first, last = names[i % len(names)]
        patient = factories.ecm_patient(
            patient__first_name=first,
            patient__last_name=last,
            member_record_status=statuses[i % 4],
            acuity_level=acuities[(i // 2) % 4],
            member_id=f"MEM{i:06d}",
            cin=f"{i:08d}C",
        )
        if i % 5 != 0:  # every fifth has no case load at all
            CaseLoad.objects.create(
                patient=patient,
                provider=providers[i % 2] if i % 3 else None,
                olcm=lcms[i % 3] if i % 4 else None,
                ilcm=lcms[(i + 1) % 3] if i % 6 else None,
            )
        if i % 2:
            factories.AuthorizationFactory(
                patient=patient, status="Approved" if i % 4 else "Denied"
            )
    # Not ECM patients: never listed, never counted, even when their names match.
    factories.PatientFactory(first_name="Maria", last_name="Marsh")
    factories.PatientFactory(first_name="Mark", last_name="Doe")
    return {"lcms": lcms, "providers": providers}


def _filter_sets(population) -> list[dict]:
    lcm, provider = population["lcms"][0].pk, population["providers"][1].pk
    single = [
        {"search": "mar"},
        {"search": "MARIA GAR"},
        {"search": "mem00001"},
        {"search": "00000007c"},
        {"search": "ria"},
        {"search": "nobody"},
        {"search": "  doe  "},
        {"status": "new_member"},
        {"acuity_level": "high"},
        {"provider_id": str(provider)},
        {"olcm_user_id": str(lcm)},
        {"ilcm_user_id": str(lcm)},
        {"authorization_status": "approved"},
        {"authorization_status": " DENIED "},
        {"missing_lcm": "olcm"},
        {"missing_lcm": "ilcm"},
        {"missing_lcm": "any"},
    ]
    pairs = [{**a, **b} for a, b in itertools.combinations(single, 2) if not set(a) & set(b)]
    return [{}, *single, *pairs]


def test_count_is_the_patient_query_count_for_every_filter_and_pair(population):
    checked = 0
    for filters in _filter_sets(population):
        filterset = PatientFilterSet(data=filters, queryset=selectors.ecm_patients())
        expected = filterset.filtered().count()
        assert selectors.patient_count(filterset) == expected, filters
        checked += 1
    assert checked > 100


def test_search_finds_the_same_patients_as_a_field_by_field_search(population):
    for term in ["mar", "ria g", "GARCIA", "mem0000", "0000001", "c", "arsh", "nobody"]:
        expected = {
            p.pk
            for p in selectors.ecm_patients().select_related("ecm_eligibility_information")
            if term.upper() in p.name.upper()
            or term.upper() in p.ecm_eligibility_information.member_id.upper()
            or term.upper() in p.ecm_eligibility_information.cin.upper()
        }
        filterset = PatientFilterSet(data={"search": term}, queryset=selectors.ecm_patients())
        assert set(filterset.filtered().values_list("pk", flat=True)) == expected, term
        assert selectors.patient_count(filterset) == len(expected), term


def test_a_term_never_matches_across_two_fields(admin_client):
    patient = factories.ecm_patient(
        patient__first_name="Jo", patient__last_name="Doe", member_id="MEM77", cin="12345678A"
    )
    for term in ["doe mem", "doemem", "oem", "77 1", "7712"]:
        response = admin_client.get(f"{BASE}/patients", {"search": term})
        assert response.status_code == 200, term
        assert response.json()["pagination"]["total_count"] == 0, term
    # The separator between the fields is a control character, which no search may contain.
    refused = admin_client.get(f"{BASE}/patients", {"search": "doe\x1fmem"})
    assert refused.status_code == 422
    assert refused.json() == {"errors": ["search must not contain control characters"]}
    for term in ["jo doe", "mem77", "45678a"]:
        body = admin_client.get(f"{BASE}/patients", {"search": term}).json()
        assert [p["id"] for p in body["patients"]] == [patient.pk], term


def test_every_page_of_a_search_adds_up_to_its_total(admin_client, population):
    seen = []
    page = 1
    while True:
        body = admin_client.get(
            f"{BASE}/patients", {"search": "mar", "per_page": 4, "page": page}
        ).json()
        seen += [p["id"] for p in body["patients"]]
        if page >= body["pagination"]["total_pages"]:
            break
        page += 1
    expected = PatientFilterSet(data={"search": "mar"}, queryset=selectors.ecm_patients())
    assert seen == sorted(expected.filtered().values_list("pk", flat=True))
    assert len(seen) == body["pagination"]["total_count"] > 4
    desc = admin_client.get(
        f"{BASE}/patients", {"search": "mar", "per_page": 100, "sort_dir": "DESC"}
    ).json()
    assert [p["id"] for p in desc["patients"]] == seen[::-1]


@pytest.mark.postgres
def test_narrow_and_broad_search_plans_give_the_same_pages(admin_client, population, monkeypatch):
    """A search estimated narrow reads its page and count in one query; one estimated broad
    counts, then reads its page. Every page, in both directions, past the end too, is the same."""
    from patients import search

    def pages(threshold: float) -> list[dict]:
        monkeypatch.setattr(search, "NARROW_SEARCH_ESTIMATE", threshold)
        bodies = []
        for term, per_page, sort_dir in itertools.product(
            ["mar", "MARIA", "mem00001", "o", "zzz"], [1, 5, 100], ["ASC", "DESC"]
        ):
            for page in (1, 2, 3, 4, 7, 10, 12, 30):
                params = {"search": term, "per_page": per_page, "page": page, "sort_dir": sort_dir}
                response = admin_client.get(f"{BASE}/patients", params)
                assert response.status_code == 200
                bodies.append(response.json())
        return bodies

    narrow = pages(float("inf"))
    assert narrow == pages(-1)
    assert any(body["pagination"]["total_count"] > 5 for body in narrow)


@pytest.mark.postgres
def test_a_narrow_search_reads_page_and_count_in_one_query(admin_client, population):
    url = f"{BASE}/patients?search=maria&per_page=2&page=2"
    admin_client.get(url)  # the token's last_used_at is fresh from here on
    with CaptureQueriesContext(connection) as ctx:
        body = admin_client.get(url).json()
    assert body["pagination"]["total_count"] == 6
    statements = [q["sql"] for q in ctx.captured_queries]
    windowed = [sql for sql in statements if "COUNT(*) OVER ()" in sql]
    assert len(windowed) == 1
    assert not [sql for sql in statements if "COUNT(" in sql and sql not in windowed]


# --- paginate(page_ids=...) -------------------------------------------------------------


def _page(queryset, page: int, per_page: int, **known):
    return paginate(
        queryset,
        PageRequest(page=page, per_page=per_page),
        "patients",
        selectors.patient_row_id,
        load=selectors.patient_rows,
        row_id=selectors.patient_row_id,
        **known,
    )


@pytest.mark.parametrize("per_page", [1, 3, 7, 100])
def test_pages_given_their_ids_and_count_equal_plain_pages(population, per_page):
    queryset = order_patients(selectors.ecm_patients(), "id", "ASC")
    ids = list(queryset.values_list("pk", flat=True))
    for page in range(1, len(ids) // per_page + 3):
        offset = (page - 1) * per_page
        window = ids[offset : offset + per_page]
        with CaptureQueriesContext(connection) as ctx:
            known = _page(queryset, page, per_page, count=len(ids), page_ids=window)
        assert known == _page(queryset, page, per_page), page
        assert len(ctx.captured_queries) == (1 if window else 0)  # the rows only


def test_search_query_count_does_not_grow_with_the_page(
    admin_client, population, django_assert_num_queries
):
    url = f"{BASE}/patients?search=mar&per_page=2"
    admin_client.get(url)  # the token's last_used_at is fresh from here on
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get(url)
    few = len(ctx.captured_queries)
    for _ in range(30):
        factories.ecm_patient(patient__first_name="Marta")
    with django_assert_num_queries(few):
        response = admin_client.get(f"{BASE}/patients?search=mar&per_page=100")
    assert len(response.json()["patients"]) > 30


# --- PostgreSQL: the triggers --------------------------------------------------------------


def _stored_total() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT total FROM patients_ecmpatientcount WHERE id = 1")
        return cursor.fetchone()[0]


def _search_text(patient_id: int) -> str | None:
    row = PatientSearchText.objects.filter(patient_id=patient_id).first()
    return row.search_text if row else None


def _assert_consistent():
    assert _stored_total() == EcmEligibilityInformation.objects.count()
    expected = {
        e.patient_id: f"{e.patient.first_name} {e.patient.last_name}\x1f{e.member_id}\x1f{e.cin}"
        for e in EcmEligibilityInformation.objects.select_related("patient")
    }
    stored = dict(PatientSearchText.objects.values_list("patient_id", "search_text"))
    assert stored == {pk: text.upper() for pk, text in expected.items()}
    assert _gram_sums() == _grams_of(stored.values())


def _grams_of(texts) -> Counter:
    """Per 3-character string of ASCII letters and digits: how many texts contain it."""
    counts = Counter()
    for text in texts:
        pieces = {text[i : i + 3] for i in range(len(text) - 2)}
        counts.update(p.lower() for p in pieces if re.fullmatch("[A-Z0-9]{3}", p))
    return counts


def _gram_sums() -> Counter:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gram, sum(patients) FROM patients_searchgramcount GROUP BY gram"
            " HAVING sum(patients) <> 0"
        )
        return Counter(dict(cursor.fetchall()))


def _gram_rows() -> Counter:
    with connection.cursor() as cursor:
        cursor.execute("SELECT gram, count(*) FROM patients_searchgramcount GROUP BY gram")
        return Counter(dict(cursor.fetchall()))


@pytest.mark.postgres
def test_triggers_follow_creates_updates_and_deletes():
    base = EcmEligibilityInformation.objects.count()
    john = factories.ecm_patient(
        patient__first_name="John", patient__last_name="Doe", member_id="MEM1", cin="11111111A"
    )
    assert _search_text(john.pk) == "JOHN DOE\x1fMEM1\x1f11111111A"
    assert _stored_total() == base + 1
    factories.PatientFactory()  # not an ECM patient: no search row, not counted
    _assert_consistent()

    Patient.objects.filter(pk=john.pk).update(first_name="Jonathan")
    assert _search_text(john.pk) == "JONATHAN DOE\x1fMEM1\x1f11111111A"
    EcmEligibilityInformation.objects.filter(patient=john).update(member_id="MEM9", cin="")
    assert _search_text(john.pk) == "JONATHAN DOE\x1fMEM9\x1f"

    others = factories.PatientFactory.create_batch(3)
    EcmEligibilityInformation.objects.bulk_create(
        factories.EligibilityFactory.build(patient=p) for p in others
    )
    assert _stored_total() == base + 4
    _assert_consistent()

    # Moving an eligibility row to another patient moves the search row with it.
    lonely = factories.PatientFactory(first_name="Lone")
    EcmEligibilityInformation.objects.filter(patient=others[0]).update(patient=lonely)
    assert _search_text(others[0].pk) is None
    assert _search_text(lonely.pk).startswith("LONE ")
    _assert_consistent()

    john.delete()  # cascades to the eligibility row
    assert _search_text(john.pk) is None
    assert _stored_total() == base + 3
    _assert_consistent()


@pytest.mark.postgres
def test_an_eligibility_row_written_before_its_patient_is_indexed():
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('patients_patient', 'id'))")
        patient_id = cursor.fetchone()[0]
    # The foreign key is deferred: the eligibility row may come first in a transaction.
    factories.EligibilityFactory(patient_id=patient_id, member_id="MEM42", cin="")
    assert _search_text(patient_id) is None
    factories.PatientFactory(id=patient_id, first_name="Late", last_name="Comer")
    assert _search_text(patient_id) == "LATE COMER\x1fMEM42\x1f"
    _assert_consistent()


@pytest.mark.postgres
def test_truncate_empties_both(population):
    assert _stored_total() == 24
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending
        cursor.execute("TRUNCATE patients_ecmeligibilityinformation, care_team_caseload")
    assert _stored_total() == 0
    assert not PatientSearchText.objects.exists()
    assert not _gram_rows()


@pytest.mark.postgres
def test_the_unfiltered_list_reads_the_stored_total(admin_client, population):
    with connection.cursor() as cursor:
        # Only the stored number can answer 1,000,024: the list does not count rows.
        cursor.execute("UPDATE patients_ecmpatientcount SET total = total + 1000000")
    body = admin_client.get(f"{BASE}/patients").json()
    assert body["pagination"]["total_count"] == 1_000_024


# --- PostgreSQL: the counts per 3-character term (migration 0009) ---------------------------


@pytest.fixture
def lookalikes():
    """Names whose 3-character pieces are easy to get wrong: accents, punctuation, digits, and
    letters that only look like ASCII (a Kelvin sign, a dotted capital I)."""
    names = [
        ("José", "Núñez"),
        ("Ñandú", "Mar-Ann"),
        ("Mary", "O'Hara"),
        ("\u212aim", "Marsh"),  # KELVIN SIGN: lower-cases to "k", but is not "K"
        ("Kİm", "Lee"),  # LATIN CAPITAL LETTER I WITH DOT ABOVE
        ("Kim", "Mar3"),
    ]
    for n, (first, last) in enumerate(names):
        factories.ecm_patient(
            patient__first_name=first,
            patient__last_name=last,
            member_id=f"mem{n:03d}x",
            cin=f"{n:08d}Z",
        )


@pytest.mark.postgres
def test_term_counts_equal_the_matches_for_every_3_character_term(population, lookalikes):
    _assert_consistent()
    terms = ["mar", "MAR", "kim", "KIM", "jos", "nez", "ara", "r3x", "ar3", "mem", "000", "00z"]
    terms += ["ann", "arsh", "zzz", "n-a", "o'h", "ñan", "ría", "r a"]
    for term in terms:
        filterset = PatientFilterSet(data={"search": term}, queryset=selectors.ecm_patients())
        expected = filterset.filtered().count()
        assert selectors.patient_count(filterset) == expected, term
    assert _gram_sums()["kim"] == 1  # "Kim Mar3" only: neither look-alike is a "K" or an "I"


@pytest.mark.postgres
def test_a_3_character_search_reads_its_count_from_the_term_counts(admin_client, population):
    with connection.cursor() as cursor:
        # Only the kept count can answer 1,000,000 more: the search does not count rows.
        cursor.execute(
            "INSERT INTO patients_searchgramcount (gram, patients) VALUES ('mar', 1000000)"
        )
    expected = PatientFilterSet(data={"search": "mar"}, queryset=selectors.ecm_patients())
    matches = expected.filtered().count()
    body = admin_client.get(f"{BASE}/patients", {"search": " mAr "}).json()
    assert body["pagination"]["total_count"] == matches + 1_000_000
    assert type(body["pagination"]["total_count"]) is int
    sorted_by_name = admin_client.post(
        f"{BASE}/patients/filter", {"search": "MAR", "sort_by": "name"}, format="json"
    ).json()
    assert sorted_by_name["pagination"]["total_count"] == matches + 1_000_000
    # Other lengths, and a search with another filter, count their rows.
    body = admin_client.get(f"{BASE}/patients", {"search": "mari"}).json()
    assert body["pagination"]["total_count"] == 12
    body = admin_client.get(f"{BASE}/patients", {"search": "mar", "status": "new_member"}).json()
    assert (
        body["pagination"]["total_count"]
        == PatientFilterSet(
            data={"search": "mar", "status": "new_member"}, queryset=selectors.ecm_patients()
        )
        .filtered()
        .count()
    )


@pytest.mark.postgres
def test_a_3_character_search_runs_no_count_and_no_estimate(admin_client, population):
    url = f"{BASE}/patients?search=ria&per_page=2&page=2"
    admin_client.get(url)  # the token's last_used_at is fresh from here on
    with CaptureQueriesContext(connection) as ctx:
        body = admin_client.get(url).json()
    assert body["pagination"]["total_count"] == 6
    assert len(body["patients"]) == 2
    statements = [q["sql"] for q in ctx.captured_queries]
    assert any("patients_searchgramcount" in sql for sql in statements)
    assert not [sql for sql in statements if "COUNT(" in sql.upper() or "EXPLAIN" in sql]


@pytest.mark.postgres
def test_single_writes_keep_one_row_per_term_and_bulk_writes_are_merged_later(population):
    assert set(_gram_rows().values()) == {1}
    patients = factories.PatientFactory.create_batch(150, first_name="Marlon", last_name="Brand")
    EcmEligibilityInformation.objects.bulk_create(
        factories.EligibilityFactory.build(patient=p) for p in patients
    )
    _assert_consistent()  # exact before merging too
    assert _gram_rows()["mar"] == 2  # one statement of 150 rows: its deltas are kept apart
    services.search_counts_compact()
    assert set(_gram_rows().values()) == {1}
    _assert_consistent()
    Patient.objects.filter(pk__in=[p.pk for p in patients[:3]]).update(first_name="Ken")
    assert set(_gram_rows().values()) == {1}
    _assert_consistent()


@pytest.mark.postgres
def test_the_rebuild_counts_every_term_once(population, lookalikes):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO patients_searchgramcount VALUES ('mar', 5), ('qqq', 2)")
        cursor.execute("SELECT patients_search_rebuild()")
    _assert_consistent()
    assert set(_gram_rows().values()) == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_write_does_not_wait_for_a_concurrent_merge():
    """A merge skips the rows another transaction holds: writers never queue on a term."""
    factories.ecm_patient(patient__first_name="Mara", patient__last_name="Lind")
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
    )
    try:
        # Another transaction in the middle of a merge: it holds the row of "mar".
        other.execute("SELECT * FROM patients_searchgramcount WHERE gram = 'mar' FOR UPDATE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        factories.ecm_patient(patient__first_name="Marek", patient__last_name="Lind")
        assert _gram_rows()["mar"] == 2  # the held row was left alone
        assert _gram_sums()["mar"] == 2
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    factories.ecm_patient(patient__first_name="Omar", patient__last_name="Lind")
    assert _gram_rows()["mar"] == 1
    _assert_consistent()


@pytest.mark.postgres
def test_a_term_with_very_common_pieces_looks_up_its_rarest_pieces_only(admin_client):
    """``MEM000001`` shares "MEM", "EM0", "M00" and "000" with every member ID: the index looks
    up its two rarest pieces, and every row found is checked for the whole term."""
    for n in range(60):
        factories.ecm_patient(member_id=f"MEM{n:07d}", cin=f"{n:08d}Q")
    for term in ["MEM0000012", "mem000001", "em00000", "0000003", "000001"]:
        _, by_pieces = _search_as_field_by_field(admin_client, term)
        if term in ("MEM0000012", "mem000001"):
            assert by_pieces, term
    # Pieces about as common as each other: the whole term is looked up.
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get(f"{BASE}/patients", {"search": "mem0000"})
    assert not [q for q in ctx.captured_queries if "strpos(search_text" in q["sql"]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_writers_keep_the_term_counts_exact():
    """Eight connections create, rename and delete patients whose names share their pieces,
    all at once: none deadlocks or waits on another's counts, and the sums come out exact."""
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            for round_ in range(5):
                patient = factories.ecm_patient(
                    patient__first_name="Maria", patient__last_name=f"Marsh{number}x{round_}"
                )
                Patient.objects.filter(pk=patient.pk).update(first_name="Mario")
                if round_ % 2:
                    patient.delete()
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures
    assert EcmEligibilityInformation.objects.count() == 8 * 3
    _assert_consistent()
    assert _gram_sums()["mar"] == 24


@pytest.mark.postgres
def test_a_term_of_several_words_looks_up_a_rare_piece_of_two_of_them(admin_client, population):
    for term, pieces_only in [
        ("maria gar", True),
        ("Mario Lopez", True),
        ("garcia", False),  # one word, its pieces about as common as each other
        ("ann m", False),  # one piece only
        ("ria garc", True),
        ("ria ga", False),  # "GA" has no piece of three
    ]:
        total, by_pieces = _search_as_field_by_field(admin_client, term)
        assert total > 0, term
        assert by_pieces is pieces_only, term


def _search_as_field_by_field(admin_client, term: str) -> tuple[int, bool]:
    """Search the list for ``term``: its page and count are those of the field-by-field query.
    Returns the count, and whether the trigram index looked up pieces of the term alone."""
    expected = PatientFilterSet(data={"search": term}, queryset=selectors.ecm_patients())
    ids = sorted(expected.filtered().values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as ctx:
        body = admin_client.get(f"{BASE}/patients", {"search": term, "per_page": 100}).json()
    assert [p["id"] for p in body["patients"]] == ids, term
    assert body["pagination"]["total_count"] == len(ids), term
    return len(ids), any("strpos(search_text" in q["sql"] for q in ctx.captured_queries)
