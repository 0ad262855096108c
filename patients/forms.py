"""The Django admin's forms for patient records: every field with a rule is checked by it
(``patients.rules``), so a staff user sees the same sentence for a bad value as the API and
the imports say."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from patients.models import EcmAuthorization, EcmEligibilityInformation, Patient
from patients.rules import DATE_ORDERS, RULES, FieldRule, RuleError, date_of_birth_problem

# What a staff user may edit (the same fields the API's PUT accepts).
PATIENT_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "phone",
    "email",
    "street",
    "city",
    "state",
    "zip_code",
)
ELIGIBILITY_FIELDS = (
    "member_id",
    "cin",
    "member_record_status",
    "acuity_level",
    "ecm_service_auth_id",
    "ecm_provider_name",
    "ecm_npi",
    "ecm_benefit_auth_eff_date",
    "ecm_benefit_auth_end_date",
)
AUTHORIZATION_FIELDS = (
    "auth_no",
    "auth_type",
    "authorization_type",
    "status",
    "start_date",
    "expiration_date",
)


def form_error(sentence: str) -> ValidationError:
    """A rule's sentence as a form error (with the full stop Django's own messages have)."""
    return ValidationError(f"{sentence}.", code="invalid")


def _as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


class RuleFormField(forms.Field):
    """A form field checked by a field rule; it keeps the widget the admin gave the model
    field (a date picker, a select of the choices)."""

    def __init__(self, rule: FieldRule, like: forms.Field):
        super().__init__(
            required=rule.required,
            widget=like.widget,
            label=rule.label,
            initial=like.initial,
            help_text=like.help_text,
            show_hidden_initial=like.show_hidden_initial,
            disabled=like.disabled,
        )
        self.rule = rule

    def to_python(self, value: Any) -> Any:
        try:
            return self.rule.clean(value)
        except RuleError as exc:
            raise form_error(str(exc)) from None

    def clean(self, value: Any) -> Any:
        return self.to_python(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        try:
            value = self.rule.clean(data)
        except RuleError:  # a value the rule refuses is a change unless it is what is stored
            return _as_text(data) != _as_text(initial)
        return _as_text(value) != _as_text(initial)


class RuledModelForm(forms.ModelForm):
    """A model form whose fields are checked by their rules, and its dates by their order."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        model = self._meta.model
        for name, field in list(self.fields.items()):
            if (found := RULES.get((model, name))) is not None:
                self.fields[name] = RuleFormField(found, field)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        order = DATE_ORDERS.get(self._meta.model)
        if order is not None and (
            problem := order.problem(cleaned.get(order.start.attr), cleaned.get(order.end.attr))
        ):
            self.add_error(order.end.attr, form_error(problem))
        return cleaned


class PatientForm(RuledModelForm):
    class Meta:
        model = Patient
        fields = PATIENT_FIELDS

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        # As in the API: checked when set, so a stored date out of bounds blocks nothing else.
        if "date_of_birth" in self.changed_data and (problem := date_of_birth_problem(born)):
            raise form_error(problem)
        return born


class EligibilityForm(RuledModelForm):
    class Meta:
        model = EcmEligibilityInformation
        fields = ("patient", *ELIGIBILITY_FIELDS)


class AuthorizationForm(RuledModelForm):
    class Meta:
        model = EcmAuthorization
        fields = ("patient", *AUTHORIZATION_FIELDS)
