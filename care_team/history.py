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
