"""Helpers for the Django admin tests: signed-in staff users and change-form POST data."""

import datetime as dt
import os
from io import StringIO
from unittest import mock

from django.core.management import call_command
from django.db.models import Model

from accounts.models import User
from audit.models import AccessEvent
from care_team.models import LeadCareManagerWorkload
from tests import factories

PASSWORD = "correct horse battery staple"
PASSWORD_VARIABLE = "ADMIN_TEST_STAFF_PASSWORD"
# Models registered for a page of their own: its list page only (no rows to add or change).
PAGE_MODELS = {LeadCareManagerWorkload}


def create_staff(
    *,
    roles: str = "admin",
    superuser: bool = False,
    email: str = "sam.staff@example.org",
    first_name: str = "Sam",
    last_name: str = "Staff",
) -> User:
    """A staff user made the documented way, ``create_user ... --roles ROLES --staff
    --password-from-env VAR`` (password ``PASSWORD``); ``superuser``: then made a superuser."""
    with mock.patch.dict(os.environ, {PASSWORD_VARIABLE: PASSWORD}):
        call_command(
            "create_user",
            *("--email", email, "--first-name", first_name, "--last-name", last_name),
            *("--roles", roles, "--staff", "--password-from-env", PASSWORD_VARIABLE),
            stdout=StringIO(),
        )
    user = User.objects.get(email=email)
    if superuser:
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    return user


def sign_in(client, *, roles: str = "admin", superuser: bool = False, **kwargs) -> User:
    """A staff user named Sam Staff (``create_staff``: by default with the admin role, not a
    superuser), signed in on ``client`` with the password."""
    user = create_staff(roles=roles, superuser=superuser, **kwargs)
    assert client.login(username=user.email, password=PASSWORD)
    return user


def one_of_each() -> list[Model]:
    """One row of every model the admin lists rows of (one patient's, and one user's): every
    registered model but ``PAGE_MODELS``."""
    lcm = factories.lcm_user()
    patient = factories.ecm_patient()
    case_load = factories.CaseLoadFactory(patient=patient, olcm=lcm)
    return [
        patient,
        patient.ecm_eligibility_information,
        factories.AuthorizationFactory(patient=patient),
        factories.StatusHistoryFactory(patient=patient, changed_by_user=lcm),
        factories.ActivityFactory(patient=patient, actor=lcm),
        case_load,
        factories.LcmAssignmentHistoryFactory(patient=patient, new_user=lcm, acted_by=lcm),
        lcm,
        lcm.roles.get(),
        factories.ApiTokenFactory(user=lcm),
        AccessEvent.objects.create(source="api", action="read_detail", patient_ids=[patient.pk]),
    ]


def _post_value(value):
    if isinstance(value, Model):
        return str(value.pk)
    if isinstance(value, (list, tuple)):
        return [_post_value(item) for item in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return "" if value is None else str(value)


def form_data(response) -> dict:
    """What the browser would POST back unchanged from a rendered admin change form.

    The main form and every inline formset (with its management form); unchecked
    checkboxes are left out, as a browser does.
    """
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.append(formset.management_form)
        forms.extend(formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else _post_value(value)
    return data
