"""Helpers for the Django admin tests: a signed-in staff user and change-form POST data."""

import datetime as dt

from django.db.models import Model

from tests import factories

PASSWORD = "correct horse battery staple"


def sign_in(client, **kwargs):
    """A superuser (staff) named Sam Staff, signed in on ``client``."""
    kwargs = {
        "email": "sam.staff@example.org",
        "first_name": "Sam",
        "last_name": "Staff",
        **kwargs,
    }
    user = factories.UserFactory(is_staff=True, is_superuser=True, **kwargs)
    user.set_password(PASSWORD)
    user.save()
    client.force_login(user)
    return user


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
