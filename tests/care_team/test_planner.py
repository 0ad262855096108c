"""The planner's rules, without a database (``care_team.planning.planner`` is a pure
function)."""

import datetime as dt
from fractions import Fraction

from care_team.planning.planner import (
    ILCM,
    NO_CAPACITY,
    OLCM,
    Lcm,
    Patient,
    Rules,
    plan_fill,
    plan_rebalance,
    utilization_value,
)

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
RULES = Rules(now=NOW)


def days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def targets(plan) -> list[tuple[int, str, int]]:
    return [(move.patient_id, move.role, move.to_user_id) for move in plan.moves]


def test_fill_places_heaviest_first_on_the_least_utilized_after_the_move():
    lcms = [Lcm(1, capacity=10, load=0), Lcm(2, capacity=20, load=4)]
    patients = [Patient(10, weight=1), Patient(11, weight=3), Patient(12, weight=2)]
    plan = plan_fill(patients, lcms, roles=[OLCM], rules=RULES)
    # 11 (3): LCM 1 → 3/10 = .30, LCM 2 → 7/20 = .35: LCM 1.
    # 12 (2): LCM 1 → 5/10 = .50, LCM 2 → 6/20 = .30: LCM 2.
    # 10 (1): LCM 1 → 4/10 = .40, LCM 2 → 7/20 = .35: LCM 2.
    assert targets(plan) == [(11, OLCM, 1), (12, OLCM, 2), (10, OLCM, 2)]
    assert plan.moves[0].why == "least utilized accepting oLCM (0.00 → 0.30)"
    assert plan.moves[0].from_user_id is None and plan.moves[0].weight == 3


def test_ties_go_to_the_lower_load_then_the_lower_id():
    lcms = [Lcm(3, capacity=20, load=2), Lcm(2, capacity=10, load=1), Lcm(1, capacity=10, load=1)]
    plan = plan_fill([Patient(5, weight=1)], lcms, roles=[OLCM], rules=RULES)
    # 3 → 3/20 = .15 beats 2/10 = .20 for LCMs 1 and 2.
    assert targets(plan) == [(5, OLCM, 3)]
    lcms = [Lcm(2, capacity=10, load=1), Lcm(1, capacity=10, load=1)]
    assert targets(plan_fill([Patient(5, weight=1)], lcms, roles=[OLCM], rules=RULES)) == [
        (5, OLCM, 1)
    ]
    lcms = [Lcm(1, capacity=20, load=3), Lcm(2, capacity=10, load=1)]
    # Both at .20 after the move: the lower load (LCM 2's) wins over the lower id.
    assert targets(plan_fill([Patient(5, weight=1)], lcms, roles=[OLCM], rules=RULES)) == [
        (5, OLCM, 2)
    ]


def test_capacity_is_never_exceeded_and_the_rest_is_unplaced():
    lcms = [Lcm(1, capacity=4, load=0), Lcm(2, capacity=3, load=1)]
    patients = [Patient(pk, weight=2) for pk in (1, 2, 3, 4)]
    plan = plan_fill(patients, lcms, roles=[OLCM], rules=RULES)
    assert targets(plan) == [(1, OLCM, 1), (2, OLCM, 2), (3, OLCM, 1)]
    assert [(u.patient_id, u.role, u.errors) for u in plan.unplaced] == [(4, OLCM, (NO_CAPACITY,))]
    assert all(
        load <= capacity for (_, load, _), capacity in zip(plan.after.loads, (4, 3), strict=True)
    )


def test_not_accepting_zero_capacity_and_non_receiving_lcms_get_nothing():
    lcms = [
        Lcm(1, capacity=100, load=0, accepting=False),
        Lcm(2, capacity=0, load=0),
        Lcm(3, capacity=100, load=0, receives=False),
        Lcm(4, capacity=100, load=50),
    ]
    plan = plan_fill([Patient(1, weight=2)], lcms, roles=[OLCM], rules=RULES)
    assert targets(plan) == [(1, OLCM, 4)]
    assert plan.before.loads[1] == (2, 0, None)  # capacity 0: no utilization


def test_distinct_roles_keep_olcm_and_ilcm_apart():
    lcms = [Lcm(1, capacity=10, load=0), Lcm(2, capacity=10, load=5)]
    patient = Patient(7, weight=1, olcm=None, ilcm=None)
    plan = plan_fill([patient], lcms, roles=[OLCM, ILCM], rules=RULES)
    assert targets(plan) == [(7, OLCM, 1), (7, ILCM, 2)]
    # An existing iLCM is not made the oLCM either.
    plan = plan_fill([Patient(8, weight=1, ilcm=1)], lcms, roles=[OLCM], rules=RULES)
    assert targets(plan) == [(8, OLCM, 2)]
    # Without the rule, the least utilized takes both.
    plan = plan_fill([patient], lcms, roles=[OLCM, ILCM], rules=Rules(distinct_roles=False))
    assert targets(plan) == [(7, OLCM, 1), (7, ILCM, 1)]


def test_only_missing_roles_are_filled_and_limit_leaves_a_remainder():
    lcms = [Lcm(1, capacity=100, load=0)]
    patients = [Patient(1, weight=1, olcm=9), Patient(2, weight=3), Patient(3, weight=2)]
    plan = plan_fill(patients, lcms, roles=[OLCM], rules=RULES, limit=2)
    assert targets(plan) == [(2, OLCM, 1), (3, OLCM, 1)]
    assert plan.remaining_count == 1


def test_transfer_moves_only_the_leaving_lcms_roles_and_never_back_to_them():
    lcms = [Lcm(1, capacity=10, load=4, receives=False), Lcm(2, capacity=10, load=0)]
    patients = [Patient(1, weight=2, olcm=1, ilcm=2), Patient(2, weight=2, olcm=3, ilcm=1)]
    plan = plan_fill(
        patients, lcms, roles=[OLCM, ILCM], rules=RULES, moving_from=1, reason="transfer to"
    )
    # Patient 1's oLCM would go to 2, but 2 is its iLCM: nowhere else to go.
    assert targets(plan) == [(2, ILCM, 2)]
    assert [(u.patient_id, u.role) for u in plan.unplaced] == [(1, OLCM)]
    assert plan.moves[0].from_user_id == 1
    assert dict((i, load) for i, load, _ in plan.after.loads) == {1: 2, 2: 2}


def test_rebalance_moves_from_above_to_below_the_mean_most_recent_first():
    lcms = [Lcm(1, capacity=10, load=8), Lcm(2, capacity=10, load=2), Lcm(3, capacity=10, load=5)]
    candidates = {
        1: [
            Patient(11, weight=1, olcm=1, olcm_assigned_at=days_ago(400)),
            Patient(12, weight=1, olcm=1, olcm_assigned_at=days_ago(100)),  # most recent
            Patient(13, weight=1, olcm=1, olcm_assigned_at=days_ago(10)),  # in cooldown
            Patient(14, weight=1, olcm=1, olcm_assigned_at=None),  # unknown: kept
        ],
        3: [Patient(31, weight=1, olcm=3, olcm_assigned_at=days_ago(200))],
    }
    plan = plan_rebalance(candidates, lcms, role=OLCM, rules=Rules(now=NOW, max_moves=10))
    # Mean .50: only LCM 1 is above it; LCM 2 below it receives; LCM 3 neither gives nor gets.
    assert targets(plan) == [(12, OLCM, 2), (11, OLCM, 2)]
    assert [move.from_user_id for move in plan.moves] == [1, 1]
    assert plan.moves[0].why.startswith("rebalance oLCM from 0.80 to the least utilized")
    assert utilization_value(plan.after.spread) == 0.2


def test_rebalance_stops_within_tolerance_and_at_max_moves():
    lcms = [Lcm(1, capacity=10, load=9), Lcm(2, capacity=10, load=1)]
    candidates = {
        1: [Patient(pk, weight=1, olcm=1, olcm_assigned_at=days_ago(100 + pk)) for pk in range(9)]
    }
    plan = plan_rebalance(candidates, lcms, role=OLCM, rules=Rules(now=NOW, max_moves=100))
    assert len(plan.moves) == 4  # .50/.50: spread 0
    assert plan.after.spread == 0
    plan = plan_rebalance(
        candidates, lcms, role=OLCM, rules=Rules(now=NOW, tolerance=Fraction(1, 2))
    )
    assert len(plan.moves) == 2  # .70/.30 → spread .40 ≤ .50
    plan = plan_rebalance(candidates, lcms, role=OLCM, rules=Rules(now=NOW, max_moves=1))
    assert len(plan.moves) == 1


def test_rebalance_respects_distinct_roles_and_capacity():
    lcms = [Lcm(1, capacity=10, load=9), Lcm(2, capacity=10, load=1), Lcm(3, capacity=2, load=1)]
    candidates = {1: [Patient(5, weight=3, olcm=1, ilcm=2, olcm_assigned_at=days_ago(200))]}
    plan = plan_rebalance(candidates, lcms, role=OLCM, rules=Rules(now=NOW))
    # LCM 2 is the patient's iLCM and LCM 3 has no room for 3 points: nothing moves.
    assert plan.moves == []


def test_the_same_inputs_give_the_same_plan():
    lcms = [Lcm(pk, capacity=50, load=pk % 7) for pk in range(1, 30)]
    patients = [Patient(pk, weight=1 + pk % 3) for pk in range(1, 500)]
    first = plan_fill(patients, lcms, roles=[OLCM, ILCM], rules=RULES)
    second = plan_fill(
        list(reversed(patients)), list(reversed(lcms)), roles=[OLCM, ILCM], rules=RULES
    )
    assert first.moves == second.moves and first.unplaced == second.unplaced


def test_transfer_to_a_named_lcm_takes_every_role_and_may_pass_capacity():
    from care_team.planning.planner import plan_transfer_to

    lcms = [Lcm(1, capacity=10, load=6), Lcm(2, capacity=4, load=3), Lcm(3, capacity=10, load=0)]
    patients = [
        Patient(1, weight=2, olcm=1, ilcm=3),
        Patient(2, weight=1, olcm=3, ilcm=1),
        Patient(3, weight=3, olcm=1, ilcm=2),  # 2 is its iLCM already
    ]
    plan = plan_transfer_to(patients, lcms, source=1, target=2, roles=[OLCM, ILCM], rules=RULES)
    assert targets(plan) == [(1, OLCM, 2), (2, ILCM, 2)]
    assert [(u.patient_id, u.role) for u in plan.unplaced] == [(3, OLCM)]
    assert plan.moves[0].why == "transfer to the named oLCM (0.75 → 1.25), past capacity"
    assert dict((i, load) for i, load, _ in plan.after.loads) == {1: 3, 2: 6, 3: 0}


def _reference_fill(patients, lcms, roles, distinct_roles=True):
    """The fill rule spelled out with exact fractions, one LCM at a time: what ``plan_fill``
    must choose, however it finds the choice."""
    load = {lcm.id: lcm.load for lcm in lcms}
    chosen = []
    for patient in sorted(patients, key=lambda p: (-p.weight, p.id)):
        holders = {OLCM: patient.olcm, ILCM: patient.ilcm}
        for role in roles:
            if holders[role] is not None:
                continue
            other = holders[ILCM if role == OLCM else OLCM]
            fits = [
                (Fraction(load[lcm.id] + patient.weight, lcm.capacity), load[lcm.id], lcm.id)
                for lcm in lcms
                if lcm.accepting and lcm.receives and lcm.capacity > 0
                and load[lcm.id] + patient.weight <= lcm.capacity
                and not (distinct_roles and lcm.id == other)
            ]  # fmt: skip
            if not fits:
                chosen.append((patient.id, role, None))
                continue
            _, _, target = min(fits)
            load[target] += patient.weight
            holders[role] = target
            chosen.append((patient.id, role, target))
    return chosen


def _chosen(plan):
    placed = [(m.patient_id, m.role, m.to_user_id) for m in plan.moves]
    return sorted(placed + [(u.patient_id, u.role, None) for u in plan.unplaced])


def test_fill_chooses_as_the_rule_says_with_any_capacities():
    import random

    rng = random.Random(18)
    for case in range(60):
        # Small capacities (many equal utilizations), and huge ones (utilizations that differ
        # by less than a float can tell).
        huge = case % 2 == 1
        lcms = [
            Lcm(
                pk,
                capacity=(3 * 10**17 + rng.randrange(3)) if huge else rng.randrange(0, 12),
                load=(10**17 - rng.randrange(3)) if huge else rng.randrange(0, 6),
                accepting=rng.random() > 0.1,
            )
            for pk in range(1, 2 + rng.randrange(8))
        ]
        patients = [
            Patient(
                pk,
                weight=rng.randrange(0, 4),
                olcm=rng.choice([None, None, 1]),
                ilcm=rng.choice([None, None, 1, 2]),
            )
            for pk in range(1, rng.randrange(2, 30))
        ]
        plan = plan_fill(patients, lcms, roles=[OLCM, ILCM], rules=RULES)
        assert _chosen(plan) == sorted(_reference_fill(patients, lcms, [OLCM, ILCM])), case


def test_utilizations_a_float_cannot_tell_apart_are_still_ordered_exactly():
    # After one point: 10**17 / (3 * 10**17 + 1) < 1/3, closer than the float spacing; the
    # lower utilization wins although the higher id and the same load would lose a tie.
    lcms = [
        Lcm(1, capacity=3 * 10**17, load=10**17 - 1),
        Lcm(2, capacity=3 * 10**17 + 1, load=10**17 - 1),
    ]
    assert (10**17) / (3 * 10**17) == (10**17) / (3 * 10**17 + 1)
    plan = plan_fill([Patient(5, weight=1)], lcms, roles=[OLCM], rules=RULES)
    assert targets(plan) == [(5, OLCM, 2)]


def test_transfer_by_fill_moves_only_what_the_leaving_lcm_holds():
    """With ``moving_from`` a role nobody holds is not the transfer's to fill."""
    lcms = [Lcm(1, capacity=10, load=5, receives=False), Lcm(2, capacity=10, load=0)]
    patients = [Patient(1, weight=2, olcm=1), Patient(2, weight=1, ilcm=1), Patient(3, weight=3)]
    plan = plan_fill(patients, lcms, roles=[OLCM, ILCM], rules=RULES, moving_from=1)
    assert targets(plan) == [(1, OLCM, 2), (2, ILCM, 2)]
    assert plan.unplaced == []


def test_a_transfer_of_both_roles_held_by_one_lcm_never_gives_both_to_one_person():
    from care_team.planning.planner import plan_transfer_to

    lcms = [Lcm(1, capacity=10, load=4, receives=False), Lcm(2, capacity=10, load=0)]
    both = Patient(1, weight=2, olcm=1, ilcm=1)
    three = [*lcms, Lcm(3, capacity=10, load=0)]
    spread = plan_fill([both], three, roles=[OLCM, ILCM], rules=RULES, moving_from=1)
    assert targets(spread) == [(1, OLCM, 2), (1, ILCM, 3)]
    named = plan_transfer_to([both], lcms, source=1, target=2, roles=[OLCM, ILCM], rules=RULES)
    assert targets(named) == [(1, OLCM, 2)]
    assert [(u.role, u.errors) for u in named.unplaced] == [
        (ILCM, ("user 2 becomes this patient's oLCM in this transfer",))
    ]
    # Without the rule, the named LCM takes both.
    loose = plan_transfer_to(
        [both], lcms, source=1, target=2, roles=[OLCM, ILCM], rules=Rules(distinct_roles=False)
    )
    assert targets(loose) == [(1, OLCM, 2), (1, ILCM, 2)]
