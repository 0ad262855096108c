"""The inputs of the Lead Care Manager routes: each validates its request and is its schema."""

from __future__ import annotations

from typing import Any

from care_team.choices import LCM_ROLES
from care_team.services import MAX_BULK_ITEMS, MAX_REASON_LENGTH, Assignment, InvalidItem
from ecm_admin.inputs import (
    BooleanField,
    ChoiceField,
    IdField,
    Input,
    InstantField,
    ObjectList,
    TextField,
)
from ecm_admin.pagination import PageField, PerPageField

MAX_SEARCH_LENGTH = 200
REASON_HELP = "Kept on the assignment history and the activity."


class LeadCareManagerSearchQuery(Input):
    """A page of Lead Care Managers found by name or email: what the lists of LCMs share."""

    in_query = True
    accepts_unknown_keys = True

    page = PageField()
    per_page = PerPageField()
    search = TextField(
        max_length=MAX_SEARCH_LENGTH,
        help_text="Case-insensitive substring of first, last or full name, or email.",
    )


class LeadCareManagerListQuery(LeadCareManagerSearchQuery):
    """``GET /lead_care_managers``."""

    role = ChoiceField(
        LCM_ROLES,
        help_text=(
            "`olcm`: only users holding at least one oLCM assignment; `ilcm` likewise "
            "(case-insensitive)."
        ),
    )


class AssignmentInput(Input):
    """One assignment: the body of ``POST``/``PUT /lead_care_managers/assign`` and an item
    of a bulk assignment."""

    patient_id = IdField(required=True, help_text="ECM patient.")
    olcm_user_id = IdField(
        help_text="Outreach Lead Care Manager: an active user with the `ecm` role."
    )
    ilcm_user_id = IdField(
        help_text="Intensive Lead Care Manager: an active user with the `ecm` role."
    )
    provider_id = IdField(help_text="Primary provider: an active user with the `provider` role.")
    reason = TextField(max_length=MAX_REASON_LENGTH, help_text=REASON_HELP)

    class Meta:
        ref_name = "LeadCareManagerAssignment"


def assignment(values: dict[str, Any]) -> Assignment:
    """An ``AssignmentInput``'s values as the service's ``Assignment``."""
    return Assignment(
        patient_id=values["patient_id"],
        olcm_user_id=values.get("olcm_user_id"),
        ilcm_user_id=values.get("ilcm_user_id"),
        provider_id=values.get("provider_id"),
        reason=values.get("reason") or "",
    )


class RemovalInput(Input):
    """``DELETE /lead_care_managers/assign``: from the JSON body, or from the query string
    when there is no body."""

    patient_id = IdField(required=True, help_text="ECM patient.")
    role = ChoiceField(LCM_ROLES, required=True, help_text="The role to remove.")
    reason = TextField(max_length=MAX_REASON_LENGTH, help_text=REASON_HELP)

    class Meta:
        ref_name = "LeadCareManagerRemoval"


class BulkAssignInput(Input):
    """``POST /lead_care_managers/bulk_assign``."""

    assignments = ObjectList(
        AssignmentInput,
        required=True,
        min_length=1,
        max_length=MAX_BULK_ITEMS,
        help_text=(
            "Applied in array order; each item succeeds or fails on its own (a malformed item "
            "fails with its errors in `results`, it does not fail the request)."
        ),
    )
    atomic = BooleanField(
        help_text="All or nothing: any failure writes nothing, and the status is 422."
    )

    class Meta:
        ref_name = "BulkAssignBody"


def bulk_items(values: dict[str, Any]) -> list[tuple[Any, Assignment | InvalidItem]]:
    """``(patient reference as sent, item)`` per assignment: an item that could not be read
    becomes an ``InvalidItem`` carrying its sentences."""
    entries: list[tuple[Any, Assignment | InvalidItem]] = []
    for raw, item, errors in values["assignments"]:
        if item is not None:
            entries.append((item["patient_id"], assignment(item)))
        elif isinstance(raw, dict):
            entries.append((raw.get("patient_id"), InvalidItem(tuple(errors))))
        else:
            entries.append((None, InvalidItem(("Each assignment must be a JSON object",))))
    return entries


class CareTeamQuery(Input):
    """``GET /patients/{patient_id}/lead_care_managers``."""

    in_query = True
    accepts_unknown_keys = True

    as_of = InstantField(help_text="The care team as it stood at this instant.")


class HistoryQuery(Input):
    """``GET /patients/{patient_id}/lead_care_managers/history``."""

    in_query = True
    accepts_unknown_keys = True

    page = PageField()
    per_page = PerPageField()


class CaseloadQuery(Input):
    """``GET /lead_care_managers/{id}/patients``."""

    in_query = True
    accepts_unknown_keys = True

    page = PageField()
    per_page = PerPageField()
    role = ChoiceField(
        LCM_ROLES,
        help_text="`olcm` or `ilcm`: only the patients the LCM holds in that role (default both).",
    )
    as_of = InstantField(help_text="The caseload as it stood at this instant.")
