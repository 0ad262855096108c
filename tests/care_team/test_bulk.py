import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User, UserRole
from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.models import Activity, EcmEligibilityInformation, Patient
from tests import factories
from tests.care_team.conftest import BULK_URL

pytestmark = pytest.mark.django_db

NOT_APPLIED = "Not applied: the request is atomic and another item failed"


def post(client, body):
    return client.post(BULK_URL, body, format="json")


def test_success_shape(admin_client, jane, bob):
    patients = [factories.ecm_patient() for _ in range(3)]
    response = post(
        admin_client,
        {
            "assignments": [
                {"patient_id": patients[0].pk, "olcm_user_id": jane.pk, "ilcm_user_id": bob.pk},
                {"patient_id": patients[1].pk, "olcm_user_id": jane.pk},
                {"patient_id": patients[2].pk, "ilcm_user_id": bob.pk, "reason": "Backfill"},
            ]
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "message": "Bulk assignment completed",
        "successful_count": 3,
        "failed_count": 0,
        "results": [{"patient_id": p.pk, "status": "success"} for p in patients],
    }
    assert CaseLoad.objects.count() == 3
    assert LcmAssignmentHistory.objects.count() == 4
    assert Activity.objects.count() == 4
    assert LcmAssignmentHistory.objects.get(patient=patients[2]).reason == "Backfill"
    assert {h.acted_by_id for h in LcmAssignmentHistory.objects.all()} == {admin_client.user.pk}


def test_items_fail_independently_and_results_keep_input_order(admin_client, jane, bob):
    good_one, good_two = factories.ecm_patient(), factories.ecm_patient()
    existing = factories.ecm_patient()
    factories.CaseLoadFactory(patient=existing, olcm=bob)
    inactive = factories.lcm_user(is_active=False)

    response = post(
        admin_client,
        {
            "assignments": [
                {"patient_id": good_one.pk, "olcm_user_id": jane.pk},
                {"patient_id": 987_654, "olcm_user_id": jane.pk},
                # valid oLCM, invalid iLCM: the whole item fails, the oLCM does not change
                {"patient_id": existing.pk, "olcm_user_id": jane.pk, "ilcm_user_id": inactive.pk},
                {"patient_id": "abc", "olcm_user_id": jane.pk},
                "not an object",
                {"patient_id": good_two.pk},
                {"patient_id": good_two.pk, "ilcm_user_id": bob.pk, "extra": 1},
                {"patient_id": good_two.pk, "ilcm_user_id": bob.pk},
            ]
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["successful_count"], body["failed_count"]) == (2, 6)
    assert body["results"] == [
        {"patient_id": good_one.pk, "status": "success"},
        {"patient_id": 987_654, "status": "failed", "errors": ["Patient not found"]},
        {
            "patient_id": existing.pk,
            "status": "failed",
            "errors": [f"ilcm_user_id {inactive.pk} is not an active Lead Care Manager"],
        },
        {"patient_id": "abc", "status": "failed", "errors": ["patient_id must be an integer"]},
        {
            "patient_id": None,
            "status": "failed",
            "errors": ["Each assignment must be a JSON object"],
        },
        {
            "patient_id": good_two.pk,
            "status": "failed",
            "errors": ["At least one of olcm_user_id or ilcm_user_id must be provided"],
        },
        {"patient_id": good_two.pk, "status": "failed", "errors": ["Unknown key: extra"]},
        {"patient_id": good_two.pk, "status": "success"},
    ]
    assert CaseLoad.objects.get(patient=good_one).olcm_id == jane.pk
    assert CaseLoad.objects.get(patient=existing).olcm_id == bob.pk
    assert CaseLoad.objects.get(patient=good_two).ilcm_id == bob.pk
    assert not LcmAssignmentHistory.objects.filter(patient=existing).exists()
    assert LcmAssignmentHistory.objects.count() == 2


def test_same_patient_twice_later_wins_and_both_are_recorded(admin_client, patient, jane, bob):
    response = post(
        admin_client,
        {
            "assignments": [
                {"patient_id": patient.pk, "olcm_user_id": jane.pk, "reason": "first"},
                {"patient_id": patient.pk, "olcm_user_id": bob.pk, "reason": "second"},
                {"patient_id": patient.pk, "olcm_user_id": bob.pk, "reason": "no change"},
            ]
        },
    )
    assert response.json()["successful_count"] == 3
    assert CaseLoad.objects.filter(patient=patient).count() == 1
    assert CaseLoad.objects.get(patient=patient).olcm_id == bob.pk
    history = LcmAssignmentHistory.objects.filter(patient=patient).order_by("id")
    assert [(h.previous_user_id, h.new_user_id, h.reason) for h in history] == [
        (None, jane.pk, "first"),
        (jane.pk, bob.pk, "second"),
    ]
    activities = Activity.objects.filter(patient=patient).order_by("id")
    assert [a.description for a in activities] == [
        "oLCM assigned: Jane Coordinator. Reason: first",
        "oLCM assigned: Bob Manager (previously Jane Coordinator). Reason: second",
    ]


def test_atomic_success_writes_everything(admin_client, jane):
    patients = [factories.ecm_patient() for _ in range(2)]
    response = post(
        admin_client,
        {
            "atomic": True,
            "assignments": [{"patient_id": p.pk, "olcm_user_id": jane.pk} for p in patients],
        },
    )
    assert response.status_code == 200
    assert response.json()["successful_count"] == 2
    assert CaseLoad.objects.count() == 2


def test_atomic_failure_writes_nothing_and_reports_every_item(admin_client, patient, jane):
    other = factories.ecm_patient()
    response = post(
        admin_client,
        {
            "atomic": True,
            "assignments": [
                {"patient_id": patient.pk, "olcm_user_id": jane.pk},
                {"patient_id": 987_654, "olcm_user_id": jane.pk},
                {"patient_id": other.pk, "ilcm_user_id": jane.pk},
            ],
        },
    )
    assert response.status_code == 422
    assert response.json() == {
        "message": "Bulk assignment failed",
        "successful_count": 0,
        "failed_count": 3,
        "results": [
            {"patient_id": patient.pk, "status": "failed", "errors": [NOT_APPLIED]},
            {"patient_id": 987_654, "status": "failed", "errors": ["Patient not found"]},
            {"patient_id": other.pk, "status": "failed", "errors": [NOT_APPLIED]},
        ],
        "errors": ["Bulk assignment failed: 1 of 3 items are invalid; nothing was written"],
    }
    assert not CaseLoad.objects.exists()
    assert not LcmAssignmentHistory.objects.exists()
    assert not Activity.objects.exists()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, ["assignments is required"]),
        ({"assignments": None}, ["assignments is required"]),
        ({"assignments": []}, ["assignments must not be empty"]),
        ({"assignments": {"patient_id": 1}}, ["assignments must be an array"]),
        (
            {"assignments": [{"patient_id": 1, "olcm_user_id": 1}] * 1001},
            ["assignments must have at most 1000 items"],
        ),
        (
            {"assignments": [{"patient_id": 1, "olcm_user_id": 1}], "atomic": "yes"},
            ["atomic must be true or false"],
        ),
        ({"assignments": [{"patient_id": 1}], "dry_run": True}, ["Unknown key: dry_run"]),
        ("text", ["Request body must be a JSON object"]),
    ],
)
def test_bad_bodies_are_422(admin_client, body, errors):
    response = post(admin_client, body)
    assert response.status_code == 422
    assert response.json() == {"errors": errors}


def test_exactly_1000_items_are_accepted(admin_client, patient, jane):
    items = [{"patient_id": patient.pk, "olcm_user_id": jane.pk}] * 1000
    response = post(admin_client, {"assignments": items})
    assert response.status_code == 200
    assert response.json()["successful_count"] == 1000
    assert LcmAssignmentHistory.objects.count() == 1


# --- set-based: the number of queries does not depend on the number of items ----------


def _make_batch(size: int) -> list[dict]:
    """``size`` ECM patients (half with a case load) and two LCMs for each."""
    ecm, _ = Role.objects.get_or_create(name="ecm")
    users = User.objects.bulk_create(
        User(email=f"bulk{size}-{n}@example.org", first_name="Bulk", last_name=str(n))
        for n in range(size * 2 + 1)
    )
    UserRole.objects.bulk_create(UserRole(user=user, role=ecm) for user in users)
    patients = Patient.objects.bulk_create(
        Patient(first_name="Member", last_name=str(n)) for n in range(size)
    )
    EcmEligibilityInformation.objects.bulk_create(
        EcmEligibilityInformation(patient=p, member_id=f"B{size}-{p.pk}") for p in patients
    )
    CaseLoad.objects.bulk_create(CaseLoad(patient=p, olcm=users[-1]) for p in patients[: size // 2])
    return [
        {
            "patient_id": p.pk,
            "olcm_user_id": users[2 * n].pk,
            "ilcm_user_id": users[2 * n + 1].pk,
        }
        for n, p in enumerate(patients)
    ]


def _bulk_queries(client, items) -> list[str]:
    client.get("/v1/admin/clinic/ecm/lead_care_managers")  # token last_used_at written now
    with CaptureQueriesContext(connection) as queries:
        response = post(client, {"assignments": items})
    assert response.status_code == 200
    assert response.json()["successful_count"] == len(items)
    return [query["sql"] for query in queries]


def test_bulk_query_count_does_not_grow_with_items(admin_client):
    small = _bulk_queries(admin_client, _make_batch(10))
    large = _bulk_queries(admin_client, _make_batch(500))

    assert LcmAssignmentHistory.objects.count() == 2 * 510
    assert CaseLoad.objects.count() == 510
    if connection.vendor == "sqlite":
        # Django splits bulk INSERT/UPDATE statements into batches of 999 parameters on
        # SQLite; the reads and everything else stay the same.
        def reads(queries):
            return [q for q in queries if q.lstrip().upper().startswith("SELECT")]

        assert len(reads(large)) == len(reads(small))
    else:
        assert len(large) == len(small)
    # token, its rate count, savepoint, lock, case loads, users, 4 writes, release, the access
    # event
    assert len(small) == 12
