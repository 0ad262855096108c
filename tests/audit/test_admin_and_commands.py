"""Access audit of the Django admin and of the management commands; the audit trail's own
admin (read-only) and ``audit_export``."""

import csv
import datetime as dt
import io
import os
from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from audit.admin_audit import AuditedModelAdmin, is_patient_data_model
from audit.models import AccessEvent
from audit.services import event_record
from ecm_admin.exceptions import UnprocessableEntity
from patients.models import EcmAuthorization
from tests import factories
from tests.admin import form_data, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    return sign_in(client)


def last_event() -> AccessEvent:
    return AccessEvent.objects.order_by("-id").first()


# --- Django admin -----------------------------------------------------------------------


def test_every_patient_data_model_admin_is_audited():
    audited = [m for m in admin.site._registry if is_patient_data_model(m)]
    assert len(audited) >= 7
    for model in audited:
        assert isinstance(admin.site._registry[model], AuditedModelAdmin), model


def test_a_patient_data_model_cannot_be_registered_unaudited():
    site = type(admin.site._wrapped)(name="elsewhere")
    with pytest.raises(ImproperlyConfigured, match="EcmAuthorization holds patient data"):
        site.register(EcmAuthorization, admin.ModelAdmin)
    with pytest.raises(ImproperlyConfigured):
        site.register(EcmAuthorization)  # Django's ModelAdmin by default
    site.register(EcmAuthorization, AuditedModelAdmin)
    site.register(Role)  # not patient data: any ModelAdmin
    assert set(site._registry) == {EcmAuthorization, Role}


def test_changelist_records_the_patients_shown(client, staff):
    patients = [factories.ecm_patient() for _ in range(3)]
    response = client.get(reverse("admin:patients_patient_changelist"))
    assert response.status_code == 200
    event = last_event()
    assert (event.source, event.action, event.user_id) == ("admin", "read_list", staff.pk)
    assert sorted(event.patient_ids) == sorted(p.pk for p in patients)
    assert event.route == "/admin/patients/patient/"


def test_changelist_search_term_is_not_recorded(client, staff):
    factories.ecm_patient(patient__last_name="Quixotic")
    client.get(reverse("admin:patients_patient_changelist"), {"q": "Quixotic"})
    event = last_event()
    row = " ".join(str(getattr(event, f.attname)) for f in AccessEvent._meta.concrete_fields)
    assert "Quixotic" not in row


def test_change_view_of_a_child_record_names_its_patient(client, staff):
    patient = factories.ecm_patient()
    auth = factories.AuthorizationFactory(patient=patient)
    url = reverse("admin:patients_ecmauthorization_change", args=[auth.pk])
    assert client.get(url).status_code == 200
    event = last_event()
    assert (event.action, event.patient_ids) == ("read_detail", [patient.pk])
    assert event.route == "/admin/patients/ecmauthorization/{object_id}/change/"


def test_an_admin_edit_is_recorded_as_update(client, staff):
    patient = factories.ecm_patient()
    auth = factories.AuthorizationFactory(patient=patient)
    url = reverse("admin:patients_ecmauthorization_change", args=[auth.pk])
    data = {
        "patient": patient.pk,
        "auth_no": auth.auth_no,
        "auth_type": "ES",
        "authorization_type": "Form II",
        "status": "Approved",
        "start_date": "2024-01-01",
        "expiration_date": "2024-12-31",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content
    event = last_event()
    assert (event.action, event.method, event.status_code) == ("update", "POST", 302)
    assert event.patient_ids == [patient.pk]


def test_an_edit_the_service_refuses_is_recorded_too(client, staff, monkeypatch):
    patient = factories.ecm_patient()
    url = reverse("admin:patients_patient_change", args=[patient.pk])
    data = form_data(client.get(url))
    data["first_name"] = "Refused"

    def refuse(**kwargs):
        raise UnprocessableEntity("Validation failed: Member ID has already been taken")

    monkeypatch.setattr("patients.admin.patient_update", refuse)
    response = client.post(url, data)
    assert response.status_code == 302  # back to the form, with the service's sentence
    event = last_event()
    assert (event.action, event.method, event.status_code) == ("update", "POST", 302)
    assert event.patient_ids == [patient.pk]


def test_an_admin_action_is_recorded_with_the_selected_patients(client, staff):
    lcm = factories.lcm_user()
    patients = [factories.ecm_patient() for _ in range(2)]
    response = client.post(
        reverse("admin:patients_patient_changelist"),
        {
            "action": "assign_olcm",
            helpers.ACTION_CHECKBOX_NAME: [str(p.pk) for p in patients],
            "apply": "1",
            "user": str(lcm.pk),
            "reason": "",
        },
    )
    assert response.status_code == 302
    event = last_event()
    assert event.action == "assign"
    assert sorted(event.patient_ids) == sorted(p.pk for p in patients)


def test_patient_autocomplete_is_recorded_without_the_term(client, staff):
    patient = factories.ecm_patient(patient__last_name="Zanzibar")
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "patients",
            "model_name": "ecmauthorization",
            "field_name": "patient",
            "term": "Zanzibar",
        },
    )
    assert response.status_code == 200
    assert [int(r["id"]) for r in response.json()["results"]] == [patient.pk]
    event = last_event()
    assert (event.source, event.action, event.patient_ids) == ("admin", "read_list", [patient.pk])
    assert "Zanzibar" not in event.route


def test_access_events_are_read_only_in_the_admin(client, staff):
    event = event_record(source="api", action="read_list", patient_ids=[1, 2])
    model_admin = admin.site._registry[AccessEvent]
    request = client.get(reverse("admin:index")).wsgi_request
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert client.get(reverse("admin:audit_accessevent_changelist")).status_code == 200
    change = reverse("admin:audit_accessevent_change", args=[event.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"action": "update"}).status_code == 403
    assert (
        client.post(reverse("admin:audit_accessevent_delete", args=[event.pk])).status_code == 403
    )
    assert client.get(reverse("admin:audit_accessevent_add")).status_code == 403
    assert AccessEvent.objects.filter(pk=event.pk).exists()


def test_failed_admin_sign_in_is_recorded(client, db):
    response = client.post(
        reverse("admin:login"), {"username": "nobody@example.org", "password": "wrong"}
    )
    assert response.status_code == 200
    event = last_event()
    assert (event.source, event.action, event.user_id) == ("admin", "auth_failed", None)


# --- management commands ----------------------------------------------------------------


def run(*args, **kwargs):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


MEMBERS = (
    "member_id,first_name,last_name,member_record_status\n"
    "MEMCMD0001,Ana,Alpha,new_member\n"
    "MEMCMD0002,Bo,Beta,new_member\n"
)


def test_import_members_records_the_patients_it_wrote(tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(MEMBERS)
    run("import_members", str(path))
    event = last_event()
    assert (event.source, event.action, event.status_code) == ("cmd:import_members", "import", 0)
    from patients.models import Patient

    assert sorted(event.patient_ids) == sorted(Patient.objects.values_list("pk", flat=True))
    assert len(event.patient_ids) == 2
    row = " ".join(str(getattr(event, f.attname)) for f in AccessEvent._meta.concrete_fields)
    assert "Alpha" not in row and "MEMCMD0001" not in row


def test_import_authorizations_records_its_patients(tmp_path):
    patient = factories.ecm_patient(member_id="MEMAUTH001")
    path = tmp_path / "auths.csv"
    path.write_text("member_id,auth_no,status\nMEMAUTH001,A-1,Approved\n")
    run("import_authorizations", str(path))
    event = last_event()
    assert (event.source, event.patient_ids) == ("cmd:import_authorizations", [patient.pk])


def test_bulk_assign_lcms_records_the_assigned_patients(tmp_path):
    lcm = factories.lcm_user()
    actor = factories.admin_user()
    patient = factories.ecm_patient()
    path = tmp_path / "assign.csv"
    path.write_text(f"patient_id,olcm_user_id\n{patient.pk},{lcm.pk}\n")
    run("bulk_assign_lcms", str(path), "--actor-email", actor.email)
    event = last_event()
    assert (event.source, event.action, event.user_id) == (
        "cmd:bulk_assign_lcms",
        "bulk_assign",
        actor.pk,
    )
    assert event.patient_ids == [patient.pk]


def test_account_commands_are_recorded():
    run("create_user", "--email", "cli@example.org", "--first-name", "C", "--last-name", "L",
        "--roles", "admin")  # fmt: skip
    assert (last_event().source, last_event().action) == ("cmd:create_user", "user_change")
    out, _ = run("create_token", "--email", "cli@example.org")
    event = last_event()
    assert (event.source, event.action) == ("cmd:create_token", "token_create")
    assert event.token_prefix == out.strip()[:12]
    run("revoke_tokens", "--email", "cli@example.org")
    assert (last_event().source, last_event().action) == ("cmd:revoke_tokens", "token_revoke")


def test_seed_demo_is_recorded(settings):
    settings.DEBUG = True
    run("seed_demo", "--patients", "2")
    assert (last_event().source, last_event().action) == ("cmd:seed_demo", "seed")


def test_a_failing_command_is_recorded_with_exit_status_1():
    with pytest.raises(CommandError):
        run("create_token", "--email", "nobody@example.org")
    event = last_event()
    assert (event.source, event.status_code) == ("cmd:create_token", 1)


# --- audit_export -------------------------------------------------------------------------


def export(*args) -> list[dict]:
    out, _ = run("audit_export", *args)
    return list(csv.DictReader(io.StringIO(out)))


@pytest.fixture
def dated_events():
    """Events on known days (occurred_at set at INSERT: the table is append-only)."""
    alice = factories.admin_user(email="alice@example.org")
    bob = factories.admin_user(email="bob@example.org")
    day = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    for user, when, ids in [
        (alice, day, [1, 2, 3]),
        (bob, day, [3, 12]),
        (alice, day + dt.timedelta(days=1), [23]),
        (bob, day + dt.timedelta(days=5), [2]),
    ]:
        AccessEvent.objects.create(
            occurred_at=when, source="api", action="read_list", user_id=user.pk, patient_ids=ids
        )
    return alice, bob


def test_export_is_csv_of_the_date_range_inclusive(dated_events):
    rows = export("--since", "2026-03-10", "--until", "2026-03-11")
    assert len(rows) == 3
    assert list(rows[0]) == [
        "id", "occurred_at", "source", "action", "user_id", "user_email", "token_prefix",
        "method", "route", "status_code", "request_id", "client_ip", "patient_ids",
    ]  # fmt: skip
    assert rows[0]["patient_ids"] == "1 2 3"
    assert rows[0]["user_email"] == "alice@example.org"


def test_export_by_user_id_or_email(dated_events):
    _alice, bob = dated_events
    by_email = export("--since", "2026-03-01", "--until", "2026-03-31", "--user", "BOB@example.org")
    by_id = export("--since", "2026-03-01", "--until", "2026-03-31", "--user", str(bob.pk))
    assert by_email == by_id
    assert {row["user_id"] for row in by_id} == {str(bob.pk)}
    assert len(by_id) == 2


def test_export_by_patient_matches_whole_ids_only(dated_events):
    rows = export("--since", "2026-03-01", "--until", "2026-03-31", "--patient", "2")
    assert [row["patient_ids"] for row in rows] == ["1 2 3", "2"]
    rows = export("--since", "2026-03-01", "--until", "2026-03-31", "--patient", "12")
    assert [row["patient_ids"] for row in rows] == ["3 12"]


def test_export_to_a_private_file(dated_events, tmp_path):
    target = tmp_path / "audit.csv"
    _, err = run("audit_export", "--since", "2026-03-10", "--until", "2026-03-10",
                 "--output", str(target))  # fmt: skip
    assert "Exported 2 access events" in err
    assert len(list(csv.DictReader(target.open()))) == 2
    assert os.stat(target).st_mode & 0o077 == 0


def test_the_export_is_itself_recorded(dated_events):
    export("--since", "2026-03-10", "--until", "2026-03-10", "--patient", "3")
    event = last_event()
    assert (event.source, event.action, event.patient_ids) == ("cmd:audit_export", "export", [3])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-13-01", "--until", "2026-12-01"], "is not a date"),
        (["--since", "2026-03-02", "--until", "2026-03-01"], "before"),
        (["--since", "2026-03-01", "--until", "2026-03-02", "--user", "x@y.z"], "no user"),
        (["--since", "2026-03-01", "--until", "2026-03-02", "--patient", "abc"], "patient id"),
    ],
)
def test_export_refuses_bad_arguments(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("audit_export", *args)


def test_formula_cells_are_neutralised(db):
    user = factories.admin_user(email="=cmd@example.org")
    AccessEvent.objects.create(
        occurred_at=timezone.now(), source="api", action="read_list", user_id=user.pk
    )
    today = timezone.now().date().isoformat()
    rows = export("--since", today, "--until", today)
    assert rows[0]["user_email"] == "'=cmd@example.org"
