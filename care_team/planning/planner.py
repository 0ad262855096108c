"""The care-team planner: a pure function from (patients, LCMs, weights, rules) to moves.

Auto-assign (fill and rebalance), caseload transfer, the ``plan_caseloads`` and
``transfer_caseload`` commands and the Django admin all plan here; nothing here reads or
writes the database (``care_team.planning.plans`` loads the inputs and applies a plan
through the care-team write core). The same inputs always give the same plan.

The rules (API.md §7), in this order:

1. A fill places the heaviest patients first (by weight, then patient id), each on the
   accepting, eligible LCM whose utilization after the move is lowest (ties: lower weighted
   load, then user id), never past capacity; with no room anywhere the patient is unplaced
   ("No accepting Lead Care Manager has capacity").
2. With ``distinct_roles`` a plan never makes one person both oLCM and iLCM of a patient.
3. A rebalance moves only from LCMs above the mean utilization to LCMs below it, taking
   first the donor's most recently assigned patients (shortest relationship: continuity of
   care), never one assigned less than the cooldown ago; it stops at ``max_moves`` or when
   the utilization spread is within ``tolerance``.

Utilization is weighted load / capacity; an LCM with capacity 0 has none and never receives.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

OLCM, ILCM = "olcm", "ilcm"
ROLES = (OLCM, ILCM)
ROLE_LABELS = {OLCM: "oLCM", ILCM: "iLCM"}
NO_CAPACITY = "No accepting Lead Care Manager has capacity"


@dataclass(frozen=True)
class Lcm:
    """A Lead Care Manager as the planner sees them: ``load`` is the weighted load now."""

    id: int
    capacity: int
    load: int
    accepting: bool = True
    # May receive patients in this plan (``lcm_user_ids``, or not the LCM being emptied).
    receives: bool = True

    def utilization(self, load: int | None = None) -> Fraction | None:
        if self.capacity <= 0:
            return None
        return Fraction(self.load if load is None else load, self.capacity)


@dataclass(frozen=True)
class Patient:
    """A patient to place or move: its weight and its current holders of both roles, with
    when each role was last set (for the rebalance's cooldown and continuity rule)."""

    id: int
    weight: int
    olcm: int | None = None
    ilcm: int | None = None
    olcm_assigned_at: dt.datetime | None = None
    ilcm_assigned_at: dt.datetime | None = None

    def holder(self, role: str) -> int | None:
        return self.olcm if role == OLCM else self.ilcm

    def assigned_at(self, role: str) -> dt.datetime | None:
        return self.olcm_assigned_at if role == OLCM else self.ilcm_assigned_at


@dataclass(frozen=True)
class Move:
    patient_id: int
    role: str
    from_user_id: int | None
    to_user_id: int
    weight: int
    why: str


@dataclass(frozen=True)
class Unplaced:
    patient_id: int
    role: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    distinct_roles: bool = True
    # Rebalance only.
    max_moves: int = 100
    tolerance: Fraction = Fraction(1, 10)
    cooldown: dt.timedelta = dt.timedelta(days=90)
    now: dt.datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    """Every LCM's weighted load and utilization, and the spread (max - min utilization
    over the accepting LCMs with a capacity)."""

    loads: tuple[tuple[int, int, Fraction | None], ...]  # (id, weighted load, utilization)
    spread: Fraction | None


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    remaining_count: int = 0
    before: Snapshot | None = None
    after: Snapshot | None = None


def _fmt(value: Fraction | None) -> str:
    return "none" if value is None else f"{round(float(value), 2):.2f}"


class _Exact:
    """The exact fraction ``n / d`` (``d > 0``), compared by integer products: the tie-break
    of heap entries whose float utilizations are equal, when a capacity is large enough for
    that to happen between different fractions (see ``_FLOATS_EXACT_BELOW``)."""

    __slots__ = ("d", "n")

    def __init__(self, n: int, d: int):
        self.n, self.d = n, d

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Exact) and self.n * other.d == other.n * self.d

    def __lt__(self, other: _Exact) -> bool:
        return self.n * other.d < other.n * self.d


# A heap entry: the utilization after the move (a float, then an exact tie-break or None), the
# load, the id, the version of the load it was computed from.
_Entry = tuple[float, _Exact | None, int, int, int]
# Division rounds monotonically, so the float of a fraction orders it as the fraction does
# except between two that round to the same float. Two different fractions of at most 1 whose
# denominators are below 2**26 differ by more than 2**-52, more than the float spacing there:
# with every capacity below this the floats alone order every utilization a move may reach
# (none past 1), and entries past 1, never chosen, all sort after them. (A ``Fraction`` for
# every entry made a fill of 100,000 patients take three times as long.)
_FLOATS_EXACT_BELOW = 2**26


class _Loads:
    """The LCMs' loads as the plan changes them, and the choice of a receiving LCM."""

    def __init__(self, lcms: Iterable[Lcm]):
        self.lcms = {lcm.id: lcm for lcm in lcms}
        self.load = {lcm.id: lcm.load for lcm in self.lcms.values()}
        # Heaps of entries (utilization after a move of that weight, load, id, version), one
        # per weight.
        self._heaps: dict[int, list[_Entry]] = {}
        self._version = dict.fromkeys(self.lcms, 0)
        self._tie_break = any(lcm.capacity >= _FLOATS_EXACT_BELOW for lcm in self.lcms.values())

    def utilization(self, lcm_id: int) -> Fraction | None:
        return self.lcms[lcm_id].utilization(self.load[lcm_id])

    def receivers(self) -> list[Lcm]:
        return [
            lcm for lcm in self.lcms.values() if lcm.accepting and lcm.receives and lcm.capacity > 0
        ]

    def _heap(self, weight: int) -> list[_Entry]:
        heap = self._heaps.get(weight)
        if heap is None:
            heap = [self._entry(lcm.id, weight) for lcm in self.receivers()]
            heapq.heapify(heap)
            self._heaps[weight] = heap
        return heap

    def _entry(self, lcm_id: int, weight: int) -> _Entry:
        capacity, load = self.lcms[lcm_id].capacity, self.load[lcm_id]
        after = load + weight
        exact = _Exact(after, capacity) if self._tie_break else None
        return (after / capacity, exact, load, lcm_id, self._version[lcm_id])

    def best(self, weight: int, excluded: set[int], below: Fraction | None = None) -> int | None:
        """The receiving LCM with the lowest utilization after taking ``weight`` (ties: lower
        load, then id), not in ``excluded``, within capacity and, with ``below``, whose
        utilization now is below it; or None."""
        heap = self._heap(weight)
        skipped = []
        found = None
        while heap:
            entry = heap[0]
            _, _, load, lcm_id, version = entry
            if version != self._version[lcm_id]:
                heapq.heappop(heap)  # stale: the LCM's load changed since
                continue
            if load + weight > self.lcms[lcm_id].capacity:
                break  # the lowest utilization after the move is past capacity: no room
            if lcm_id in excluded or (below is not None and not self.utilization(lcm_id) < below):
                skipped.append(heapq.heappop(heap))
                continue
            found = lcm_id
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found

    def shift(self, lcm_id: int, delta: int) -> None:
        self.load[lcm_id] += delta
        if lcm_id not in self._version:
            return
        self._version[lcm_id] += 1
        if self.lcms[lcm_id].capacity > 0 and self.lcms[lcm_id].accepting:
            for weight, heap in self._heaps.items():
                if self.lcms[lcm_id].receives:
                    heapq.heappush(heap, self._entry(lcm_id, weight))

    def snapshot(self) -> Snapshot:
        loads = tuple(
            (lcm_id, self.load[lcm_id], self.utilization(lcm_id)) for lcm_id in sorted(self.lcms)
        )
        return Snapshot(loads=loads, spread=self.spread())

    def spread(self) -> Fraction | None:
        values = [
            self.utilization(lcm.id)
            for lcm in self.lcms.values()
            if lcm.accepting and lcm.capacity > 0
        ]
        return max(values) - min(values) if values else None


def heaviest_first(patients: Iterable[Patient]) -> list[Patient]:
    return sorted(patients, key=lambda patient: (-patient.weight, patient.id))


def _first(patients: Iterable[Patient], limit: int | None, plan: Plan) -> list[Patient]:
    """The patients a plan takes, heaviest first, at most ``limit``; the others counted in
    ``plan.remaining_count``."""
    ordered = heaviest_first(patients)
    if limit is not None and len(ordered) > limit:
        plan.remaining_count = len(ordered) - limit
        ordered = ordered[:limit]
    return ordered


def _why(role: str, loads: _Loads, lcm_id: int, weight: int, reason: str) -> str:
    capacity, load = loads.lcms[lcm_id].capacity, loads.load[lcm_id]
    before, after = _fmt_ratio(load, capacity), _fmt_ratio(load + weight, capacity)
    return f"{reason} {ROLE_LABELS[role]} ({before} → {after})"


def _fmt_ratio(load: int, capacity: int) -> str:
    """``_fmt`` of the utilization ``load / capacity`` without making it a ``Fraction`` (the
    same float: both divisions are correctly rounded)."""
    return "none" if capacity <= 0 else f"{round(load / capacity, 2):.2f}"


def plan_fill(
    patients: Iterable[Patient],
    lcms: Iterable[Lcm],
    *,
    roles: Sequence[str],
    rules: Rules,
    limit: int | None = None,
    reason: str = "least utilized accepting",
    moving_from: int | None = None,
) -> Plan:
    """Place each patient's missing ``roles`` (or, with ``moving_from``, take the roles that
    LCM holds away from them), heaviest patients first, at most ``limit`` patients.

    ``patients`` are those to place; a role is placed when the patient has no holder for it
    (with ``moving_from``: when its holder is ``moving_from``, who never receives).
    """
    loads = _Loads(lcms)
    plan = Plan(before=loads.snapshot())
    ordered = _first(patients, limit, plan)
    for patient in ordered:
        holders = {role: patient.holder(role) for role in ROLES}
        for role in roles:
            current = holders[role]
            if current != moving_from:
                continue
            other = holders[ILCM if role == OLCM else OLCM]
            excluded = {other} if rules.distinct_roles and other is not None else set()
            if moving_from is not None:
                excluded.add(moving_from)
            target = loads.best(patient.weight, excluded)
            if target is None:
                plan.unplaced.append(Unplaced(patient.id, role, (NO_CAPACITY,)))
                continue
            why = _why(role, loads, target, patient.weight, reason)
            plan.moves.append(Move(patient.id, role, current, target, patient.weight, why))
            if current is not None:
                loads.shift(current, -patient.weight)
            loads.shift(target, patient.weight)
            holders[role] = target
    plan.after = loads.snapshot()
    return plan


def plan_rebalance(
    candidates: Mapping[int, Sequence[Patient]],
    lcms: Iterable[Lcm],
    *,
    role: str,
    rules: Rules,
    plan: Plan | None = None,
) -> Plan:
    """Move ``role`` assignments from LCMs above the mean utilization to LCMs below it.

    ``candidates[lcm_id]``: that LCM's patients in ``role``, any order (this sorts them most
    recently assigned first). ``plan``: a plan made so far (a fill before the rebalance),
    continued from its ``after`` loads.
    """
    lcm_list = list(lcms)
    loads = _Loads(lcm_list)
    if plan is None:
        plan = Plan(before=loads.snapshot())
    else:
        for move in plan.moves:
            if move.from_user_id is not None and move.from_user_id in loads.load:
                loads.shift(move.from_user_id, -move.weight)
            if move.to_user_id in loads.load:
                loads.shift(move.to_user_id, move.weight)
    balanced = [lcm for lcm in lcm_list if lcm.accepting and lcm.capacity > 0]
    if not balanced:
        plan.after = loads.snapshot()
        return plan
    mean = sum((loads.utilization(lcm.id) for lcm in balanced), Fraction(0)) / len(balanced)
    cutoff = None if rules.now is None else rules.now - rules.cooldown
    moved = {(move.patient_id, move.role) for move in plan.moves}
    # The holders the plan so far gives (a fill of the other role comes before): rule 2 is
    # checked against them, not against the holders read before the plan.
    planned = {(move.patient_id, move.role): move.to_user_id for move in plan.moves}
    queues = {
        lcm.id: _recent_first(candidates.get(lcm.id, ()), role, cutoff, moved) for lcm in balanced
    }
    count = 0
    while count < rules.max_moves:
        spread = loads.spread()
        if spread is None or spread <= rules.tolerance:
            break
        move = _next_rebalance_move(loads, balanced, queues, mean, role, rules, planned)
        if move is None:
            break
        plan.moves.append(move)
        loads.shift(move.from_user_id, -move.weight)
        loads.shift(move.to_user_id, move.weight)
        count += 1
    plan.after = loads.snapshot()
    return plan


class _Queues(dict):
    """Each donor's movable patients, read from ``candidates`` when first needed (a caller
    may load them lazily: only the donors a rebalance reaches are read)."""

    def __init__(self, candidates, role, cutoff, moved):
        super().__init__()
        self.candidates, self.role, self.cutoff, self.moved = candidates, role, cutoff, moved

    def __missing__(self, lcm_id: int) -> list[Patient]:
        queue = _recent_first(self.candidates.get(lcm_id, ()), self.role, self.cutoff, self.moved)
        self[lcm_id] = queue
        return queue


def _recent_first(
    patients: Iterable[Patient], role: str, cutoff: dt.datetime | None, moved: set
) -> list[Patient]:
    """The patients a rebalance may move, most recently assigned first (ties: higher id
    first), past the cooldown (a patient whose assignment time is unknown is never moved:
    its relationship may be long), and not already moved by this plan."""
    movable = [
        patient
        for patient in patients
        if (patient.id, role) not in moved
        and (assigned := patient.assigned_at(role)) is not None
        and (cutoff is None or assigned <= cutoff)
    ]
    return sorted(movable, key=lambda p: (p.assigned_at(role), p.id), reverse=True)


def _next_rebalance_move(
    loads: _Loads,
    balanced: list[Lcm],
    queues: _Queues,
    mean: Fraction,
    role: str,
    rules: Rules,
    planned: Mapping[tuple[int, str], int],
) -> Move | None:
    """The next move: from the most utilized donor above the mean that has a patient some
    LCM below the mean can take and end below the donor's utilization now (``planned``: the
    holders the plan so far gives, by patient and role)."""
    donors = sorted(
        (lcm for lcm in balanced if loads.utilization(lcm.id) > mean),
        key=lambda lcm: (-loads.utilization(lcm.id), -loads.load[lcm.id], lcm.id),
    )
    for donor in donors:
        queue = queues[donor.id]
        donor_now = loads.utilization(donor.id)
        for index, patient in enumerate(queue):
            other_role = ILCM if role == OLCM else OLCM
            other = planned.get((patient.id, other_role), patient.holder(other_role))
            excluded = {donor.id}
            if rules.distinct_roles and other is not None:
                excluded.add(other)
            target = loads.best(patient.weight, excluded, below=mean)
            if target is None:
                continue
            target_after = loads.lcms[target].utilization(loads.load[target] + patient.weight)
            if not target_after < donor_now:
                continue  # would not narrow the gap
            del queue[index]
            why = (
                f"rebalance {ROLE_LABELS[role]} from {_fmt(donor_now)} to the least utilized "
                f"({_fmt(loads.utilization(target))} → {_fmt(target_after)}); most recently "
                "assigned first"
            )
            return Move(patient.id, role, donor.id, target, patient.weight, why)
    return None


def utilization_value(value: Fraction | None) -> float | None:
    """A utilization as the API shows it: 2 decimals, or ``None``."""
    return None if value is None else round(float(value), 2)


def plan_transfer_to(
    patients: Iterable[Patient],
    lcms: Iterable[Lcm],
    *,
    source: int,
    target: int,
    roles: Sequence[str],
    rules: Rules,
    limit: int | None = None,
) -> Plan:
    """Move every role in ``roles`` that ``source`` holds to ``target`` (named by a person,
    so capacity does not stop it: the moves say when it goes past capacity), heaviest first,
    at most ``limit`` patients. With ``distinct_roles`` a patient whose other role ``target``
    already holds (or receives in this plan) is unplaced."""
    loads = _Loads(lcms)
    plan = Plan(before=loads.snapshot())
    ordered = _first(patients, limit, plan)
    for patient in ordered:
        holders = {role: patient.holder(role) for role in ROLES}
        for role in roles:
            if holders[role] != source:
                continue
            other = holders[ILCM if role == OLCM else OLCM]
            if rules.distinct_roles and other == target:
                label = ROLE_LABELS[ILCM if role == OLCM else OLCM]
                if patient.holder(ILCM if role == OLCM else OLCM) == target:
                    error = f"user {target} is already this patient's {label}"
                else:
                    error = f"user {target} becomes this patient's {label} in this transfer"
                plan.unplaced.append(Unplaced(patient.id, role, (error,)))
                continue
            after = loads.lcms[target].utilization(loads.load[target] + patient.weight)
            why = _why(role, loads, target, patient.weight, "transfer to the named")
            if after is not None and after > 1:
                why += ", past capacity"
            plan.moves.append(Move(patient.id, role, source, target, patient.weight, why))
            loads.shift(source, -patient.weight)
            loads.shift(target, patient.weight)
            holders[role] = target
    plan.after = loads.snapshot()
    return plan
