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
from care_team.models import CaseLoad, LcmAssignmentHistory
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


def not_past(at: dt.datetime) -> bool:
    """Whether ``at`` is not in the past: the care team (or a caseload) as of such an instant is
    the one as it is, whose holders are known even where the history does not say since when."""
    return at >= timezone.now()


def case_load_existed(created_at: dt.datetime | None, at: dt.datetime) -> bool:
    """Whether a case load made at ``created_at`` (``None``: there is none) existed at ``at``:
    before it was made, the patient had no care team (nobody held any role)."""
    return created_at is not None and created_at <= at


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
    in the past is answered with the care team as it is (``row``): see ``not_past``."""
    if not_past(at):
        return row
    if not case_load_existed(row["c.created_at"] if row["c.id"] is not None else None, at):
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


# --- a Lead Care Manager's caseload at an instant ---------------------------------------------

# Every ECM patient whose care team may have had ``user`` in one of the roles at the instant:
# those with an entry giving it to them by then, and those who have them now (for whom no entry
# may exist: rule 3). Each comes with its case load and every entry of the roles asked for; which
# of them the user held then is ``holder_at``'s to say.
_CASELOAD_AT = """
    WITH candidates AS (
        SELECT x.patient_id FROM care_team_lcmassignmenthistory x
        WHERE x.new_user_id = %(user)s AND x.role IN ({roles}) AND x.created_at <= %(at)s
        {current}
    )
    SELECT {columns}
    FROM candidates
    JOIN care_team_caseload c ON c.patient_id = candidates.patient_id
    JOIN patients_ecmeligibilityinformation e ON e.patient_id = c.patient_id
    LEFT JOIN care_team_lcmassignmenthistory h
        ON h.patient_id = c.patient_id AND h.role IN ({roles})
"""
_CURRENT = "UNION SELECT c.patient_id FROM care_team_caseload c WHERE c.{role}_id = %(user)s"
_CASELOAD_COLUMNS = {
    "olcm": ("c.olcm_id", "c.olcm_assigned_at"),
    "ilcm": ("c.ilcm_id", "c.ilcm_assigned_at"),
}


def _caseload_at_statement(roles: Sequence[str]) -> Select:
    quoted = ", ".join(f"'{role}'" for role in roles)  # only ``_CASELOAD_COLUMNS`` keys
    current = " ".join(_CURRENT.format(role=role) for role in roles)
    return Select(
        _CASELOAD_AT.replace("{roles}", quoted).replace("{current}", current),
        tables={"c": CaseLoad, "h": LcmAssignmentHistory},
        columns=[
            "c.patient_id",
            "c.created_at",
            *(column for role in roles for column in _CASELOAD_COLUMNS[role]),
            "h.id",
            "h.role",
            "h.previous_user_id",
            "h.new_user_id",
            "h.created_at",
        ],
    )


_CASELOAD_AT_STATEMENTS: dict[tuple[str, ...], Select] = {}


def caseload_at(user_id: int, roles: Sequence[str], at: dt.datetime) -> list[tuple[int, list[str]]]:
    """The ECM patients for whom ``user_id`` held any of ``roles`` at ``at`` (in the past:
    ``not_past``), by patient id, each with the roles they held: for each patient and role,
    the holder ``holder_at`` finds (nobody where the case load was made later). One query."""
    roles = tuple(role for role in _CASELOAD_COLUMNS if role in roles)
    statement = _CASELOAD_AT_STATEMENTS.get(roles)
    if statement is None:
        statement = _CASELOAD_AT_STATEMENTS[roles] = _caseload_at_statement(roles)
    patients: dict[int, dict] = {}
    for row in statement.dicts({"user": user_id, "at": at}):
        patient = patients.get(row["c.patient_id"])
        if patient is None:
            patient = patients[row["c.patient_id"]] = {"row": row, "entries": []}
        if row["h.id"] is not None:
            patient["entries"].append(Entry(**_entry(row)))
    held = []
    for patient_id in sorted(patients):
        row, entries = patients[patient_id]["row"], patients[patient_id]["entries"]
        if not case_load_existed(row["c.created_at"], at):
            continue
        roles_then = [
            role
            for role in roles
            if holder_at(
                [entry for entry in entries if entry.role == role],
                current_user_id=row[_CASELOAD_COLUMNS[role][0]],
                current_assigned_at=row[_CASELOAD_COLUMNS[role][1]],
                at=at,
            ).user_id
            == user_id
        ]
        if roles_then:
            held.append((patient_id, roles_then))
    return held
