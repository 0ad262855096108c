"""One rule per field, one sentence per problem: the same value sent through the API
(``PATCH /patients/{id}``), an import file (``import_members`` or ``import_authorizations``)
and the Django admin's patient page (as a staff user with the admin role) is refused with the
same sentence by each, or accepted and stored alike by each."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.admin import UserAddForm, UserEditForm
from accounts.models import User
from patients.forms import AuthorizationForm, EligibilityForm, PatientForm, RuleFormField
from patients.importers.columns import AUTHORIZATION_COLUMNS, ELIGIBILITY_COLUMNS, PATIENT_COLUMNS
from patients.models import EcmAuthorization, EcmEligibilityInformation, Patient
from patients.rules import RULES, FieldRule
from patients.update_input import ADDRESS_FIELDS, ELIGIBILITY_FIELDS, PATIENT_FIELDS
from tests import factories
from tests.admin import form_data, sign_in

BASE = "/v1/admin/clinic/ecm"
NEW_AUTH = "AUTH-NEW-1"
ADDRESS = ("street", "city", "state", "zip_code")


def model_of(attr: str) -> type:
    """The model of the field an attribute names (each name belongs to one of them)."""
    for model in (EcmAuthorization, EcmEligibilityInformation):
        if attr in {field.name for field in model._meta.concrete_fields} - {"patient", "id"}:
            return model
    return Patient


@dataclass(frozen=True)
class Entry:
    """Values (by model attribute) entered together, and what is said or stored."""

    values: dict[str, str]
    expected: Any  # the sentence; or the stored values by attribute

    @property
    def model(self) -> type:
        (model,) = {model_of(attr) for attr in self.values}
        return model

    @property
    def unsafe_text(self) -> bool:
        """Refused by the text rule (ecm_admin.text): the API's JSON parser refuses it before
        the fields are read, naming the key by its path (``patient.address.street ...``)."""
        return isinstance(self.expected, str) and " must not contain " in self.expected


def entry(values: str | dict[str, str], value_or_expected: Any, expected: Any = None) -> Entry:
    if isinstance(values, str):  # one field: (attr, value, expected)
        return Entry({values: value_or_expected}, expected)
    return Entry(values, value_or_expected)


BAD = {
    "phone letters": entry("phone", "555-CALL-NOW", "Phone is not a valid phone number"),
    "phone short": entry("phone", "12345", "Phone is not a valid phone number"),
    "phone long": entry("phone", "1" * 31, "Phone is too long (maximum is 30 characters)"),
    "zip": entry("zip_code", "9000", "Zip must be a 5-digit ZIP code (or ZIP+4)"),
    "zip+4": entry("zip_code", "90001-12", "Zip must be a 5-digit ZIP code (or ZIP+4)"),
    "state": entry("state", "C1", "State must be a 2-letter state code"),
    "state long": entry("state", "California", "State is too long (maximum is 2 characters)"),
    "email": entry("email", "not-an-email", "Email is not a valid email address"),
    "npi": entry(
        "ecm_npi", "1234567890", "ECM NPI is not a valid NPI (10 digits with a valid check digit)"
    ),
    "cin": entry("cin", "12-45", "CIN must be 9 letters or digits"),
    "gender": entry("gender", "robot", "Gender must be one of: male, female, other, unknown"),
    "acuity": entry("acuity_level", "extreme", "Acuity level must be one of: low, medium, high"),
    "status": entry(
        "member_record_status",
        "gone",
        "Member record status must be one of: new_member, continuing_member, pending_member, "
        "terminated_member, inactive_member",
    ),
    "first name long": entry(
        "first_name", "x" * 101, "First name is too long (maximum is 100 characters)"
    ),
    "provider long": entry(
        "ecm_provider_name", "x" * 201, "ECM provider name is too long (maximum is 200 characters)"
    ),
    "last name blank": entry("last_name", "  ", "Last name can't be blank"),
    "member id blank": entry("member_id", "", "Member ID can't be blank"),
    "birth date shape": entry(
        "date_of_birth", "15/05/2010", "Date of birth must be a valid date (YYYY-MM-DD)"
    ),
    "birth date impossible": entry(
        "date_of_birth", "2024-02-30", "Date of birth must be a valid date (YYYY-MM-DD)"
    ),
    "born in the future": entry(
        "date_of_birth", "2999-01-01", "Date of birth can't be in the future"
    ),
    "born before 1900": entry(
        "date_of_birth", "1899-12-31", "Date of birth can't be before 1900-01-01"
    ),
    "benefit dates": entry(
        {"ecm_benefit_auth_eff_date": "2024-06-01", "ecm_benefit_auth_end_date": "2024-05-31"},
        "ECM benefit auth end date can't be before the ECM benefit auth effective date",
    ),
    "NUL": entry("street", "1 Main\x00St", "Street must not contain NUL characters"),
    "control character": entry(
        "city", "Los\x07Angeles", "City must not contain control characters"
    ),
    "control character at the end": entry(
        "first_name", "Ann\x0c", "First name must not contain control characters"
    ),
    "non-character": entry(
        "ecm_service_auth_id",
        "AUTH\ufffe",
        "ECM service auth ID must not contain Unicode non-characters",
    ),
    # Authorizations are written by the import and the admin only (the API reads them).
    "authorization dates": entry(
        {"start_date": "2024-06-01", "expiration_date": "2024-05-31"},
        "Expiration date can't be before the start date",
    ),
    "authorization date shape": entry(
        "start_date", "2024-1-1", "Start date must be a valid date (YYYY-MM-DD)"
    ),
    "auth type long": entry(
        "auth_type", "x" * 21, "Auth type is too long (maximum is 20 characters)"
    ),
}
GOOD = {
    "phone": entry("phone", "(805) 555-0123", {"phone": "(805) 555-0123"}),
    "phone dotted": entry("phone", "+1 805.555.0123", {"phone": "+1 805.555.0123"}),
    "zip+4": entry("zip_code", "90001-1234", {"zip_code": "90001-1234"}),
    "state in capitals": entry("state", "ca", {"state": "CA"}),
    "email": entry("email", "Jane.Doe+ecm@example.org", {"email": "Jane.Doe+ecm@example.org"}),
    "cin in capitals": entry("cin", "91234567a", {"cin": "91234567A"}),
    "npi": entry("ecm_npi", "1245319599", {"ecm_npi": "1245319599"}),
    "gender": entry("gender", "female", {"gender": "female"}),
    "status": entry(
        "member_record_status", "pending_member", {"member_record_status": "pending_member"}
    ),
    "longest first name": entry("first_name", "x" * 100, {"first_name": "x" * 100}),
    "trimmed": entry("city", "  Fresno ", {"city": "Fresno"}),
    "two-line street": entry("street", "12 Oak St\nUnit 4", {"street": "12 Oak St\nUnit 4"}),
    "born in 1900": entry("date_of_birth", "1900-01-01", {"date_of_birth": dt.date(1900, 1, 1)}),
    "cleared": entry("phone", "", {"phone": ""}),
    "cleared date": entry("date_of_birth", "", {"date_of_birth": None}),
    "benefit ends the day it starts": entry(
        {"ecm_benefit_auth_eff_date": "2024-06-01", "ecm_benefit_auth_end_date": "2024-06-01"},
        {
            "ecm_benefit_auth_eff_date": dt.date(2024, 6, 1),
            "ecm_benefit_auth_end_date": dt.date(2024, 6, 1),
        },
    ),
    "authorization ends the day it starts": entry(
        {"start_date": "2024-06-01", "expiration_date": "2024-06-01"},
        {"start_date": dt.date(2024, 6, 1), "expiration_date": dt.date(2024, 6, 1)},
    ),
}


# --- the three entry points: each returns what it said (a list of sentences) ------------------


def api_path(attr: str) -> tuple[str, ...]:
    """Where the update body has the field ``attr``: ``("address", "zip")`` for ``zip_code``."""
    if model_of(attr) is EcmEligibilityInformation:
        return ("ecm_eligibility_information", attr)
    if attr in ADDRESS:
        return ("address", "zip" if attr == "zip_code" else attr)
    return (attr,)


def through_api(client: APIClient, patient: Patient, values: dict[str, str]) -> list[str]:
    body: dict[str, Any] = {}
    for attr, value in values.items():
        *objects, key = api_path(attr)
        target = body
        for name in objects:
            target = target.setdefault(name, {})
        target[key] = value
    response = client.patch(f"{BASE}/patients/{patient.pk}", {"patient": body}, format="json")
    if response.status_code == 200:
        return []
    assert response.status_code == 422, response.content
    return response.json()["errors"]


def _csv(rows: list[dict[str, str]]) -> bytes:
    """A CSV file with every cell quoted (so a NUL or a line break is a cell like any other)."""

    def line(cells) -> str:
        return ",".join('"' + cell.replace('"', '""') + '"' for cell in cells)

    text = [line(rows[0])] + [line(row.values()) for row in rows]
    return ("\n".join(text) + "\n").encode("utf-8", "surrogatepass")


def through_import(tmp_path: Path, patient: Patient, values: dict[str, str]) -> list[str]:
    member_id = patient.ecm_eligibility_information.member_id
    if model_of(next(iter(values))) is EcmAuthorization:
        command, row = "import_authorizations", {"member_id": member_id, "auth_no": NEW_AUTH}
    else:
        command = "import_members"
        row = {"member_id": member_id, "first_name": patient.first_name}
        row["last_name"] = patient.last_name
    row.update({"zip" if attr == "zip_code" else attr: value for attr, value in values.items()})
    path = tmp_path / f"{command}.csv"
    path.write_bytes(_csv([row]))
    err = StringIO()
    with contextlib.suppress(CommandError):  # raised when a row failed: err says why
        call_command(command, str(path), stdout=StringIO(), stderr=err)
    return err.getvalue().splitlines()


def change_url(patient: Patient) -> str:
    return reverse("admin:patients_patient_change", args=[patient.pk])


def through_admin(client, patient: Patient, values: dict[str, str]) -> list[str]:
    """The patient page's form posted with ``values`` (an authorization's in a new row of the
    authorizations inline); the form errors shown."""
    data = form_data(client.get(change_url(patient)))
    prefix = {
        Patient: "",
        EcmEligibilityInformation: "ecm_eligibility_information-0-",
        EcmAuthorization: "ecm_authorizations-0-",
    }
    for attr, value in values.items():
        if model_of(attr) is EcmAuthorization:
            data["ecm_authorizations-TOTAL_FORMS"] = "1"
            data["ecm_authorizations-0-patient"] = str(patient.pk)
            data["ecm_authorizations-0-auth_no"] = NEW_AUTH
        data[prefix[model_of(attr)] + attr] = value
    response = client.post(change_url(patient), data)
    if response.status_code == 302:
        return []
    assert response.status_code == 200
    errors = [*response.context["adminform"].form.non_field_errors()]
    errors += [
        e
        for field_errors in response.context["adminform"].form.errors.values()
        for e in field_errors
    ]
    for inline in response.context["inline_admin_formsets"]:
        for form_errors in inline.formset.errors:
            errors += [e for field_errors in form_errors.values() for e in field_errors]
    return errors


def stored(patient: Patient, entry: Entry) -> dict[str, Any]:
    row = {
        Patient: lambda: Patient.objects.get(pk=patient.pk),
        EcmEligibilityInformation: lambda: EcmEligibilityInformation.objects.get(patient=patient),
        EcmAuthorization: lambda: EcmAuthorization.objects.get(auth_no=NEW_AUTH),
    }[entry.model]()
    return {attr: getattr(row, attr) for attr in entry.expected}


def snapshot() -> list[list[dict]]:
    return [
        list(model.objects.order_by("pk").values())
        for model in (Patient, EcmEligibilityInformation, EcmAuthorization)
    ]


@pytest.fixture
def staff_client(client, db):
    """The Django test client, signed in as staff with the admin role (``create_user --staff``)."""
    sign_in(client)
    return client


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_a_bad_value_gets_the_same_sentence_from_every_entry_point(
    case, admin_client, staff_client, tmp_path
):
    patient = factories.ecm_patient()
    before = snapshot()
    sentence = case.expected

    said = {
        "import": through_import(tmp_path, patient, case.values),
        "admin": through_admin(staff_client, patient, case.values),
    }
    expected = {"import": [f"line 2: {sentence}"], "admin": [f"{sentence}."]}
    if case.model is not EcmAuthorization:
        said["api"] = through_api(admin_client, patient, case.values)
        if case.unsafe_text:  # the same phrase, the field named by its path in the body
            (attr,) = case.values
            phrase = sentence[sentence.index(" must not contain ") :]
            expected["api"] = [".".join(("patient", *api_path(attr))) + phrase]
        else:
            expected["api"] = [f"Validation failed: {sentence}"]

    assert said == expected
    assert snapshot() == before


@pytest.mark.parametrize("case", GOOD.values(), ids=GOOD.keys())
def test_a_good_value_is_stored_alike_by_every_entry_point(
    case, admin_client, staff_client, tmp_path
):
    entry_points = {
        "import": lambda patient: through_import(tmp_path, patient, case.values),
        "admin": lambda patient: through_admin(staff_client, patient, case.values),
    }
    if case.model is not EcmAuthorization:
        entry_points["api"] = lambda patient: through_api(admin_client, patient, case.values)
    results = {}
    for name, send in entry_points.items():
        patient = factories.ecm_patient()
        said = send(patient)
        results[name] = (said, stored(patient, case))
        EcmAuthorization.objects.filter(auth_no=NEW_AUTH).delete()

    assert results == {name: ([], case.expected) for name in entry_points}


def test_a_users_email_has_the_same_rule(client, db):
    """Users' addresses are checked by the rule of patients' addresses: by ``create_user``
    (naming its option) and by the user form of the admin."""
    with pytest.raises(CommandError, match=r"^--email is not a valid email address$"):
        call_command(
            "create_user",
            *("--email", "not-an-email", "--first-name", "N", "--last-name", "O"),
            *("--roles", ""),
            stdout=StringIO(),
        )
    sign_in(client, superuser=True)
    add = reverse("admin:accounts_user_add")
    response = client.post(
        add,
        {"email": "not-an-email", "first_name": "N", "last_name": "O", "usable_password": "false"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [
        "Email is not a valid email address."
    ]
    assert not User.objects.filter(first_name="N").exists()


def test_every_field_an_entry_point_writes_is_checked_by_its_rule():
    """The API's update body, both import files and the admin's forms read each field they
    write through its rule (``patients.rules``), and through no other check."""
    api = [*PATIENT_FIELDS.values(), *ADDRESS_FIELDS.values(), *ELIGIBILITY_FIELDS.values()]
    columns = (*PATIENT_COLUMNS, *ELIGIBILITY_COLUMNS, *AUTHORIZATION_COLUMNS)
    assert all(isinstance(found, FieldRule) for found in api)
    assert {(c.rule.model, c.rule.attr) for c in columns} <= set(RULES)
    assert {(found.model, found.attr) for found in api} <= set(RULES)
    for form_class in (PatientForm, EligibilityForm, AuthorizationForm):
        form = form_class()
        fields = {name: field for name, field in form.fields.items() if name != "patient"}
        assert all(isinstance(field, RuleFormField) for field in fields.values()), form_class
        assert [field.rule for field in fields.values()] == [
            RULES[form_class._meta.model, name] for name in fields
        ]
    assert isinstance(UserAddForm().fields["email"], RuleFormField)
    assert isinstance(UserEditForm().fields["email"], RuleFormField)


def test_lengths_and_choices_are_the_model_fields():
    for (model, attr), found in RULES.items():
        field = model._meta.get_field(attr)
        assert found.required == (not field.blank)
        assert set(found.choices) == {str(value) for value, _ in field.flatchoices}
        if not (found.choices or found.is_date):
            assert found.max_length == field.max_length
