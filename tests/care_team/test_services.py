import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from care_team.models import CaseLoad, LcmAssignmentHistory
from care_team.services import (
    Assignment,
    InvalidItem,
    care_team_assign,
    care_team_bulk_assign,
    care_team_unassign,
)
from ecm_admin.exceptions import NotFound, UnprocessableEntity
from patients.choices import ActivityKind
from patients.models import Activity
from tests import factories

pytestmark = pytest.mark.django_db


def _history(patient):
    return list(LcmAssignmentHistory.objects.filter(patient=patient).order_by("id"))


def _activities(patient):
    return list(Activity.objects.filter(patient=patient).order_by("id"))


def test_assign_creates_case_load_and_records_history_and_activity(patient, jane, bob, admin):
    case_load = care_team_assign(
        patient_id=patient.pk,
        olcm_user_id=jane.pk,
        ilcm_user_id=bob.pk,
        actor=admin,
        reason="Initial setup",
    )

    stored = CaseLoad.objects.get(patient=patient)
    assert stored.pk == case_load.pk
    assert (stored.olcm_id, stored.ilcm_id, stored.provider_id) == (jane.pk, bob.pk, None)
    assert stored.olcm_assigned_at is not None
    assert stored.ilcm_assigned_at is not None
    assert stored.provider_assigned_at is None

    history = _history(patient)
    assert [(h.role, h.previous_user_id, h.new_user_id) for h in history] == [
        ("olcm", None, jane.pk),
        ("ilcm", None, bob.pk),
    ]
    for entry in history:
        assert entry.acted_by_id == admin.pk
        assert entry.acted_by_name == "Ada Admin"
        assert entry.reason == "Initial setup"

    activities = _activities(patient)
    assert [a.kind for a in activities] == [ActivityKind.LCM_ASSIGNED, ActivityKind.LCM_ASSIGNED]
    assert activities[0].description == "oLCM assigned: Jane Coordinator. Reason: Initial setup"
    assert activities[1].description == "iLCM assigned: Bob Manager. Reason: Initial setup"
    assert activities[0].actor_id == admin.pk
    assert activities[0].actor_name == "Ada Admin"
    assert activities[0].metadata == {
        "role": "olcm",
        "previous_user_id": None,
        "new_user_id": jane.pk,
        "reason": "Initial setup",
    }


def test_returned_case_load_has_patient_and_users_loaded(patient, jane, admin):
    case_load = care_team_assign(patient_id=patient.pk, olcm_user_id=jane.pk, actor=admin)
    with CaptureQueriesContext(connection) as queries:
        assert case_load.patient.name == "John Doe"
        assert case_load.olcm.name == "Jane Coordinator"
        assert case_load.ilcm is None
    assert len(queries) == 0


def test_reassigning_the_same_user_records_nothing(patient, jane, bob, admin):
    care_team_assign(patient_id=patient.pk, olcm_user_id=jane.pk, actor=admin)
    before = CaseLoad.objects.get(patient=patient)

    care_team_assign(patient_id=patient.pk, olcm_user_id=jane.pk, actor=admin)

    after = CaseLoad.objects.get(patient=patient)
    assert after.olcm_assigned_at == before.olcm_assigned_at
    assert after.updated_at == before.updated_at
    assert len(_history(patient)) == 1
    assert len(_activities(patient)) == 1


def test_changing_one_role_leaves_the_other_alone(patient, jane, bob, admin):
    old = timezone.now() - dt.timedelta(days=30)
    factories.CaseLoadFactory(
        patient=patient, olcm=jane, ilcm=bob, olcm_assigned_at=old, ilcm_assigned_at=old
    )
    carol = factories.lcm_user(first_name="Carol", last_name="Case")

    care_team_assign(patient_id=patient.pk, olcm_user_id=carol.pk, ilcm_user_id=bob.pk, actor=admin)

    case_load = CaseLoad.objects.get(patient=patient)
    assert case_load.olcm_id == carol.pk
    assert case_load.olcm_assigned_at > old
    assert case_load.ilcm_assigned_at == old
    history = _history(patient)
    assert [(h.role, h.previous_user_id, h.new_user_id) for h in history] == [
        ("olcm", jane.pk, carol.pk)
    ]
    assert _activities(patient)[0].description == (
        "oLCM assigned: Carol Case (previously Jane Coordinator)"
    )


def test_provider_assignment_is_recorded_as_provider(patient, jane, dr_smith, admin):
    case_load = care_team_assign(
        patient_id=patient.pk, olcm_user_id=jane.pk, provider_id=dr_smith.pk, actor=admin
    )
    assert case_load.provider_id == dr_smith.pk
    assert case_load.provider_assigned_at is not None
    history = _history(patient)
    assert [h.role for h in history] == ["olcm", "provider"]
    kinds = [a.kind for a in _activities(patient)]
    assert kinds == [ActivityKind.LCM_ASSIGNED, ActivityKind.PROVIDER_ASSIGNED]


def test_without_actor_the_system_is_named(patient, jane):
    care_team_assign(patient_id=patient.pk, olcm_user_id=jane.pk, actor=None)
    assert _history(patient)[0].acted_by_name == "System"
    assert _activities(patient)[0].actor_name == "System"


@pytest.mark.parametrize(
    ("kwargs", "exc_type", "errors"),
    [
        ({"patient_id": 999_999, "olcm_user_id": None}, NotFound, ["Patient not found"]),
        (
            {},
            UnprocessableEntity,
            ["At least one of olcm_user_id or ilcm_user_id must be provided"],
        ),
        (
            {"olcm_user_id": 987_654},
            UnprocessableEntity,
            ["olcm_user_id 987654 is not an active Lead Care Manager"],
        ),
    ],
)
def test_assign_errors(patient, admin, kwargs, exc_type, errors):
    kwargs = {"patient_id": patient.pk, **kwargs}
    with pytest.raises(exc_type) as info:
        care_team_assign(actor=admin, **kwargs)
    rendered = info.value.errors if exc_type is UnprocessableEntity else [str(info.value.detail)]
    assert rendered == errors
    assert not CaseLoad.objects.exists()


def test_only_active_ecm_users_can_be_lcms_and_only_providers_providers(patient, admin):
    inactive = factories.lcm_user(is_active=False)
    not_ecm = factories.UserFactory(roles=["coordinator"])
    lcm = factories.lcm_user()
    with pytest.raises(UnprocessableEntity) as info:
        care_team_assign(
            patient_id=patient.pk,
            olcm_user_id=inactive.pk,
            ilcm_user_id=not_ecm.pk,
            provider_id=lcm.pk,
            actor=admin,
        )
    assert info.value.errors == [
        f"olcm_user_id {inactive.pk} is not an active Lead Care Manager",
        f"ilcm_user_id {not_ecm.pk} is not an active Lead Care Manager",
        f"provider_id {lcm.pk} is not an active provider",
    ]
    assert not CaseLoad.objects.exists()
    assert not Activity.objects.exists()


def test_non_ecm_patient_is_not_found(jane, admin):
    plain = factories.PatientFactory()
    with pytest.raises(NotFound):
        care_team_assign(patient_id=plain.pk, olcm_user_id=jane.pk, actor=admin)


def test_reason_is_bounded(patient, jane, admin):
    with pytest.raises(UnprocessableEntity) as info:
        care_team_assign(
            patient_id=patient.pk, olcm_user_id=jane.pk, actor=admin, reason="x" * 1001
        )
    assert info.value.errors == ["reason must be at most 1000 characters"]


def test_remove_lcm_records_history_and_clears_assigned_at(patient, jane, bob, admin):
    care_team_assign(patient_id=patient.pk, olcm_user_id=jane.pk, ilcm_user_id=bob.pk, actor=admin)

    care_team_unassign(patient_id=patient.pk, role="olcm", actor=admin, reason="Moved away")

    case_load = CaseLoad.objects.get(patient=patient)
    assert (case_load.olcm_id, case_load.olcm_assigned_at) == (None, None)
    assert case_load.ilcm_id == bob.pk
    last = _history(patient)[-1]
    assert (last.role, last.previous_user_id, last.new_user_id, last.reason) == (
        "olcm",
        jane.pk,
        None,
        "Moved away",
    )
    activity = _activities(patient)[-1]
    assert activity.kind == ActivityKind.LCM_REMOVED
    assert activity.description == "oLCM removed: Jane Coordinator. Reason: Moved away"


@pytest.mark.parametrize(
    ("role", "exc_type", "message"),
    [
        ("provider", UnprocessableEntity, "role must be one of: olcm, ilcm"),
        ("ilcm", NotFound, "Patient has no iLCM assigned"),
        ("olcm", NotFound, "Patient has no oLCM assigned"),
    ],
)
def test_remove_lcm_errors(patient, admin, role, exc_type, message):
    with pytest.raises(exc_type) as info:
        care_team_unassign(patient_id=patient.pk, role=role, actor=admin)
    assert message in str(info.value.detail)


def test_remove_from_unknown_patient(admin):
    with pytest.raises(NotFound) as info:
        care_team_unassign(patient_id=123_456, role="olcm", actor=admin)
    assert str(info.value.detail) == "Patient not found"


def test_single_and_bulk_record_the_same_rows(jane, bob, admin):
    one, two = factories.ecm_patient(), factories.ecm_patient()
    care_team_assign(patient_id=one.pk, olcm_user_id=jane.pk, actor=admin, reason="r")
    care_team_bulk_assign(
        assignments=[Assignment(patient_id=two.pk, olcm_user_id=jane.pk, reason="r")], actor=admin
    )

    def shape(patient):
        history = [
            (h.role, h.previous_user_id, h.new_user_id, h.acted_by_id, h.acted_by_name, h.reason)
            for h in _history(patient)
        ]
        activities = [
            (a.kind, a.description, a.actor_id, a.actor_name) for a in _activities(patient)
        ]
        return history, activities

    assert shape(one) == shape(two)


def test_bulk_dry_run_writes_nothing(patient, jane, admin):
    result = care_team_bulk_assign(
        assignments=[Assignment(patient_id=patient.pk, olcm_user_id=jane.pk)],
        actor=admin,
        dry_run=True,
    )
    assert result.errors == [[]]
    assert result.written is False
    assert not CaseLoad.objects.exists()
    assert not LcmAssignmentHistory.objects.exists()


def test_bulk_passes_invalid_items_through_in_order(patient, jane, admin):
    result = care_team_bulk_assign(
        assignments=[
            InvalidItem(("patient_id must be an integer",)),
            Assignment(patient_id=patient.pk, olcm_user_id=jane.pk),
        ],
        actor=admin,
    )
    assert result.errors == [["patient_id must be an integer"], []]
    assert (result.successful_count, result.failed_count) == (1, 1)
    assert CaseLoad.objects.get(patient=patient).olcm_id == jane.pk


def test_bulk_refuses_more_than_1000_items(admin):
    items = [Assignment(patient_id=1, olcm_user_id=1)] * 1001
    with pytest.raises(UnprocessableEntity):
        care_team_bulk_assign(assignments=items, actor=admin)


def test_single_assign_query_count_is_fixed(patient, jane, bob, dr_smith, admin):
    with CaptureQueriesContext(connection) as first:
        care_team_assign(
            patient_id=patient.pk,
            olcm_user_id=jane.pk,
            ilcm_user_id=bob.pk,
            provider_id=dr_smith.pk,
            actor=admin,
        )
    carol = factories.lcm_user()
    with CaptureQueriesContext(connection) as second:
        care_team_assign(patient_id=patient.pk, olcm_user_id=carol.pk, actor=admin)
    # savepoint, lock patient, case load, users, write case load, history, activities, release
    assert len(first) == 8
    assert len(second) == 8
