"""Who held a care-team role at a given instant, reconstructed from the assignment history.

Every change of a role since the history began is an entry (previous user → new user, when);
the case load holds the present. The holder of a role at instant ``T``:

1. the new user of the latest entry at or before ``T`` (set at that entry's time);
2. with no entry at or before ``T`` but entries after it: not known (the user the first later
   entry replaced held the role then, but since when is not recorded), unless that entry
   replaced nobody, in which case nobody held it;
3. with no entry at all: the present holder, if the role was set at or before ``T``; else
   nobody.

A user is never inferred beyond what the records show: the answer is the recorded holder or
nobody (``None``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from accounts.models import User
from care_team.models import LcmAssignmentHistory
from ecm_admin.statements import Select


@dataclass(frozen=True)
class Entry:
    role: str
    previous_user_id: int | None
    new_user_id: int | None
    created_at: dt.datetime
    id: int


@dataclass(frozen=True)
class Held:
    user_id: int | None
    assigned_at: dt.datetime | None


NOBODY = Held(None, None)


def holder_at(
    entries: Sequence[Entry],
    *,
    current_user_id: int | None,
    current_assigned_at: dt.datetime | None,
    at: dt.datetime,
) -> Held:
    """The holder of one role at ``at``; ``entries`` are that role's, in any order."""
    ordered = sorted(entries, key=lambda entry: (entry.created_at, entry.id))
    before = [entry for entry in ordered if entry.created_at <= at]
    if before:
        last = before[-1]
        return NOBODY if last.new_user_id is None else Held(last.new_user_id, last.created_at)
    if ordered:
        return NOBODY  # rule 2: unknown, or nobody: never a guess
    known = current_user_id is not None and current_assigned_at is not None
    if known and current_assigned_at <= at:
        return Held(current_user_id, current_assigned_at)
    return NOBODY


# --- reads -----------------------------------------------------------------------------------

HISTORY_TABLES = {"h": LcmAssignmentHistory, "pu": User, "nu": User}
_HISTORY_PAGE = Select(
    "SELECT {columns} FROM care_team_lcmassignmenthistory h"
    " LEFT JOIN accounts_user pu ON pu.id = h.previous_user_id"
    " LEFT JOIN accounts_user nu ON nu.id = h.new_user_id"
    " WHERE h.patient_id = %s ORDER BY h.created_at DESC, h.id DESC LIMIT %s OFFSET %s",
    tables=HISTORY_TABLES,
    columns=[
        "h.id",
        "h.role",
        "h.previous_user_id",
        "pu.first_name",
        "pu.last_name",
        "h.new_user_id",
        "nu.first_name",
        "nu.last_name",
        "h.acted_by_name",
        "h.reason",
        "h.created_at",
    ],
)
_HISTORY_COUNT = "SELECT count(*) FROM care_team_lcmassignmenthistory WHERE patient_id = %s"
_ENTRIES = Select(
    "SELECT {columns} FROM care_team_lcmassignmenthistory h WHERE h.patient_id = %s",
    tables={"h": LcmAssignmentHistory},
    columns=["h.id", "h.role", "h.previous_user_id", "h.new_user_id", "h.created_at"],
)
_USERS = Select(
    "SELECT {columns} FROM accounts_user u WHERE u.id IN ({ids})",
    tables={"u": User},
    columns=["u.id", "u.first_name", "u.last_name", "u.email"],
)


def history_page(patient_id: int, offset: int, limit: int) -> tuple[list[dict], int]:
    """A page of the patient's assignment history, newest first, and how many entries there
    are: two queries, both on the (patient, created_at) index."""
    with connection.cursor() as cursor:
        cursor.execute(_HISTORY_COUNT, [patient_id])
        total = cursor.fetchone()[0]
    if offset >= total:
        return [], total
    return _HISTORY_PAGE.dicts([patient_id, limit, offset]), total


_USER_NAMES = ("first_name", "last_name", "email")
# The columns of ``care_team.selectors.patient_care_team`` each role's holder fills.
_ROLE_COLUMNS = {
    "olcm": ("c.olcm_id", "c.olcm_assigned_at", "ou"),
    "ilcm": ("c.ilcm_id", "c.ilcm_assigned_at", "iu"),
    "provider": ("c.provider_id", "c.provider_assigned_at", "pu"),
}


def care_team_at(row: dict, at: dt.datetime) -> dict:
    """The care-team row of ``patient_care_team`` as it stood at ``at``: each role's holder
    from the history (``holder_at``), the case load absent if it was made later. Two more
    queries at most (the patient's entries, the users who held a role then). An instant not
    in the past is answered with the care team as it is (``row``), whose holders are known even
    where the history does not say since when."""
    if at >= timezone.now():
        return row
    if row["c.id"] is None or row["c.created_at"] > at:
        return {**row, "c.id": None}
    entries = [Entry(**_entry(values)) for values in _ENTRIES.dicts([row["p.id"]])]
    held = {
        role: holder_at(
            [entry for entry in entries if entry.role == role],
            current_user_id=row[user_column],
            current_assigned_at=row[at_column],
            at=at,
        )
        for role, (user_column, at_column, _) in _ROLE_COLUMNS.items()
    }
    # The present holders' names are in the row; only those who held a role then are read.
    known = {
        row[user_column]: {f"u.{name}": row[f"{alias}.{name}"] for name in _USER_NAMES}
        for user_column, _, alias in _ROLE_COLUMNS.values()
        if row[user_column] is not None
    }
    wanted = {h.user_id for h in held.values() if h.user_id is not None} - set(known)
    if wanted:
        known.update({user["u.id"]: user for user in _USERS.dicts(ids=sorted(wanted))})
    out = dict(row)
    for role, (user_column, at_column, alias) in _ROLE_COLUMNS.items():
        holder = held[role]
        user = known.get(holder.user_id, {})
        out[user_column] = holder.user_id
        out[at_column] = holder.assigned_at
        for name in _USER_NAMES:
            out[f"{alias}.{name}"] = user.get(f"u.{name}")
    return out


def _entry(values: dict) -> dict:
    return {
        "id": values["h.id"],
        "role": values["h.role"],
        "previous_user_id": values["h.previous_user_id"],
        "new_user_id": values["h.new_user_id"],
        "created_at": values["h.created_at"],
    }
