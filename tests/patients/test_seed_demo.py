"""seed_demo: a deterministic, idempotent demo data set."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import User
from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.choices import SYSTEM_IMPORT, ActivityKind, MemberRecordStatus
from patients.models import (
    Activity,
    EcmAuthorization,
    EcmEligibilityInformation,
    EcmStatusHistory,
    Patient,
)
from patients.rules import cin_is_valid, npi_is_valid

pytestmark = pytest.mark.django_db

ADMIN_EMAIL = "demo.admin@example.org"


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", force=True, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def everything() -> dict[str, list]:
    models = (
        User,
        Patient,
        EcmEligibilityInformation,
        EcmAuthorization,
        EcmStatusHistory,
        Activity,
        CaseLoad,
        LcmAssignmentHistory,
    )
    return {m.__name__: list(m.objects.order_by("id").values()) for m in models}


def test_default_data_set(monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)

    out = seed()

    assert out == (
        "Seeded demo data: 200 patients created (0 already present), "
        "10 users created (0 already present)\n"
    )
    admin = User.objects.get(email=ADMIN_EMAIL)
    assert (admin.first_name, admin.last_name) == ("Demo", "Admin")
    assert admin.role_names() == ["admin", "staff"]
    assert not admin.has_usable_password()
    lcms = User.objects.filter(roles__name="ecm")
    assert lcms.count() == 6
    assert User.objects.filter(roles__name="ecm").filter(roles__name="coordinator").exists()
    assert User.objects.filter(roles__name="provider").count() == 3

    assert EcmEligibilityInformation.objects.count() == 200
    statuses = set(EcmEligibilityInformation.objects.values_list("member_record_status", flat=True))
    assert statuses == set(MemberRecordStatus.values)
    assert set(EcmEligibilityInformation.objects.values_list("acuity_level", flat=True)) == {
        "low",
        "medium",
        "high",
    }
    for eligibility in EcmEligibilityInformation.objects.select_related("patient"):
        assert cin_is_valid(eligibility.cin)
        assert npi_is_valid(eligibility.ecm_npi)
        assert eligibility.patient.state == "CA"
        assert 1 <= eligibility.patient.ecm_authorizations.count() <= 3

    # Most have a full care team; some lack an oLCM, an iLCM or both, or have none at all.
    full = CaseLoad.objects.exclude(olcm=None).exclude(ilcm=None).exclude(provider=None)
    assert full.count() > 100
    assert CaseLoad.objects.filter(olcm=None).exists()
    assert CaseLoad.objects.filter(ilcm=None).exists()
    assert CaseLoad.objects.filter(olcm=None, ilcm=None).exists()
    assert Patient.objects.filter(case_load=None).exists()


def test_history_is_consistent_with_current_state():
    seed(patients=40)

    for eligibility in EcmEligibilityInformation.objects.all():
        history = list(
            EcmStatusHistory.objects.filter(patient_id=eligibility.patient_id).order_by(
                "changed_at"
            )
        )
        assert history[0].changed_by == SYSTEM_IMPORT
        assert history[0].status == MemberRecordStatus.NEW
        assert history[-1].status == eligibility.member_record_status
        changes = Activity.objects.filter(
            patient_id=eligibility.patient_id, kind=ActivityKind.STATUS_CHANGED
        )
        assert changes.count() == len(history)

    for case_load in CaseLoad.objects.all():
        for role in ("provider", "olcm", "ilcm"):
            user_id = getattr(case_load, f"{role}_id")
            entries = LcmAssignmentHistory.objects.filter(
                patient_id=case_load.patient_id, role=role
            )
            if user_id is None:
                assert not entries.exists()
                assert getattr(case_load, f"{role}_assigned_at") is None
                continue
            entry = entries.get()
            assert (entry.previous_user_id, entry.new_user_id) == (None, user_id)
            assert entry.created_at == getattr(case_load, f"{role}_assigned_at")
            kind = (
                ActivityKind.PROVIDER_ASSIGNED if role == "provider" else ActivityKind.LCM_ASSIGNED
            )
            assert Activity.objects.filter(
                patient_id=case_load.patient_id, kind=kind, metadata__new_user_id=user_id
            ).exists()


def test_running_twice_changes_nothing():
    seed(patients=30)
    before = everything()

    out = seed(patients=30)

    assert out == (
        "Seeded demo data: 0 patients created (30 already present), "
        "0 users created (10 already present)\n"
    )
    assert everything() == before


def test_deterministic_and_extendable():
    seed(patients=10)
    first = list(
        EcmEligibilityInformation.objects.order_by("member_id").values_list(
            "member_id", "cin", "patient__first_name", "patient__last_name", "member_record_status"
        )
    )
    Patient.objects.all().delete()
    CaseLoad.objects.all().delete()

    seed(patients=15)

    again = list(
        EcmEligibilityInformation.objects.order_by("member_id").values_list(
            "member_id", "cin", "patient__first_name", "patient__last_name", "member_record_status"
        )
    )
    assert again[:10] == first
    assert len(again) == 15


def test_admin_password_from_environment(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "demo-password-for-tests")
    seed(patients=1)
    assert User.objects.get(email=ADMIN_EMAIL).check_password("demo-password-for-tests")

    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "another-demo-password")
    seed(patients=1)
    assert User.objects.get(email=ADMIN_EMAIL).check_password("another-demo-password")


def test_the_demo_admin_works_in_the_django_admin(monkeypatch, client):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "demo-password-for-tests")
    seed(patients=3)
    assert client.login(username=ADMIN_EMAIL, password="demo-password-for-tests")

    patient = Patient.objects.filter(case_load__isnull=False).first()
    for url, status in [
        (reverse("admin:patients_patient_changelist"), 200),
        (reverse("admin:patients_patient_change", args=[patient.pk]), 200),
        (reverse("admin:care_team_caseload_changelist"), 200),
        (reverse("admin:care_team_lcmassignmenthistory_changelist"), 200),
        (reverse("admin:accounts_user_changelist"), 403),
    ]:
        assert client.get(url).status_code == status, url
    assert (
        'name="_save"'
        in client.get(reverse("admin:patients_patient_change", args=[patient.pk])).content.decode()
    )


def test_refuses_without_debug_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_demo", stdout=StringIO())
    assert not Patient.objects.exists()


@pytest.mark.parametrize("value", ["0", "abc", "-3"])
def test_patients_must_be_a_positive_number(value):
    with pytest.raises(CommandError, match="--patients"):
        seed(patients=value)
