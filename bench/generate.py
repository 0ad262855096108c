"""The rows of the data set: its users and roles, and every patient table, chunk by chunk.

Everything is drawn from seeded generators (``random.Random``), so two builds with the same
seed write the same rows (only the users' unusable password hashes differ).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from dataclasses import dataclass

from bench import names
from bench.tables import CHUNK_TABLES
from bench.workload import CIN_LETTERS, make_npi, weighted

# Bumped whenever the rows for a given seed change: a data set built by another version is
# rebuilt (see ``bench.dataset.dataset_matches``).
GENERATOR_VERSION = 2

N_LCMS = 200
N_INACTIVE_LCMS = 10
N_PROVIDERS = 50
N_COORDINATORS = 5
N_USERS = 1 + N_LCMS + N_PROVIDERS + N_COORDINATORS  # with the admin
ADMIN_ID = 1
ADMIN_EMAIL = "bench.admin@example.org"
ADMIN_FIRST, ADMIN_LAST = "Bench", "Admin"
# The data set's "today": fixed, so two builds with the same seed are identical. The
# authorizations alone are dated around the day of the build instead (``chunk_rows``'s
# ``today``): the worklist filters compare them with the service's own today.
REFERENCE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# The latest authorization of a patient ends this many days from the build's today (uniform);
# each earlier one ended the day before the next began, 182 days apart, each 181 days long.
LATEST_AUTH_END_DAYS = (-45, 270)
# Status of a patient's latest authorization, and of the earlier ones.
LATEST_AUTH_STATUSES = (("approved", 80), ("pending", 12), ("denied", 8))
EARLIER_AUTH_STATUSES = (("approved", 85), ("expired", 15))

ROLES = (
    (1, "admin", "Admin (may call the API)"),
    (2, "ecm", "ECM (may be a Lead Care Manager)"),
    (3, "provider", "Provider (may be a primary provider)"),
    (4, "coordinator", "Care coordinator"),
)

ACTIVITY_TEXT = {
    "member_imported": "Member imported from the eligibility feed",
    "note": "Outreach call: left a voicemail",
    "lcm_assigned": "Lead Care Manager assigned",
    "status_changed": "Member record status changed",
    "patient_updated": "Contact details updated",
}


@dataclass
class Users:
    """The users the patient rows refer to, and how often each is drawn."""

    lcm_ids: list[int]
    lcm_weights: list[float]
    provider_ids: list[int]
    provider_weights: list[float]
    names: dict[int, str]


def user_rows(rng: random.Random) -> tuple[dict[str, list[tuple]], Users]:
    """Rows of ``accounts_role``, ``accounts_user`` and ``accounts_userrole`` (in that order of
    loading), and the users the patient rows draw from: the admin, the LCMs (role ``ecm``, a
    few inactive, some coordinators too), the providers and the coordinators."""
    created = REFERENCE - dt.timedelta(days=4 * 365)
    users: list[tuple] = []
    user_roles: list[tuple[int, int]] = []
    names_by_id: dict[int, str] = {}

    def add(uid: int, first: str, last: str, email: str, *, active=True, staff=False, roles=()):
        password = "!" + secrets.token_hex(20)  # unusable, as Django marks it
        users.append(
            (uid, password, None, False, email, first, last, active, staff, created, created)
        )
        names_by_id[uid] = f"{first} {last}"
        user_roles.extend((uid, role) for role in roles)

    add(ADMIN_ID, ADMIN_FIRST, ADMIN_LAST, ADMIN_EMAIL, staff=True, roles=(1,))
    next_id = ADMIN_ID + 1
    firsts = weighted(rng, names.FIRST_NAMES, N_LCMS + N_PROVIDERS + N_COORDINATORS)
    lasts = weighted(rng, names.LAST_NAMES, N_LCMS + N_PROVIDERS + N_COORDINATORS)
    lcm_ids = list(range(next_id, next_id + N_LCMS))
    inactive = set(rng.sample(lcm_ids, N_INACTIVE_LCMS))
    coordinators_too = set(rng.sample(lcm_ids, 10))
    for k, uid in enumerate(lcm_ids):
        roles = (2, 4) if uid in coordinators_too else (2,)
        email = f"{firsts[k]}.{lasts[k]}.{uid}@ecm.example.org".lower()
        add(uid, firsts[k], lasts[k], email, active=uid not in inactive, roles=roles)
    next_id += N_LCMS
    provider_ids = list(range(next_id, next_id + N_PROVIDERS))
    for j, uid in enumerate(provider_ids):
        k = N_LCMS + j
        email = f"dr.{firsts[k]}.{lasts[k]}.{uid}@clinic.example.org".lower()
        add(uid, firsts[k], lasts[k], email, roles=(3,))
    next_id += N_PROVIDERS
    for j in range(N_COORDINATORS):
        uid, k = next_id + j, N_LCMS + N_PROVIDERS + j
        add(uid, firsts[k], lasts[k], f"coord.{uid}@ecm.example.org", roles=(4,))

    # Some LCMs carry far more patients than others; inactive ones keep a few old assignments.
    lcm_weights = [rng.lognormvariate(0, 0.5) * (0.1 if u in inactive else 1) for u in lcm_ids]
    provider_weights = [rng.lognormvariate(0, 0.8) for _ in provider_ids]
    rows = {
        "accounts_role": list(ROLES),
        "accounts_user": users,
        "accounts_userrole": [
            (rid, uid, role) for rid, (uid, role) in enumerate(user_roles, start=1)
        ],
    }
    return rows, Users(lcm_ids, lcm_weights, provider_ids, provider_weights, names_by_id)


def chunk_rows(
    seed: int, start: int, stop: int, users: Users, today: dt.date
) -> dict[str, list[tuple]]:
    """Rows of every patient table for patients ``start`` .. ``stop - 1``.

    A chunk depends only on ``(seed, start)`` and ``today`` (the day the authorizations are
    dated around): its generator is seeded from both, case loads take the patient's id, and
    the other child rows get their ids from the identity columns.

    Authorizations, 1 to 3 per patient, back to back: the latest ends between 45 days ago and
    270 days from ``today``; it is approved for 80 % of the patients, pending or denied for the
    rest; 85 % of the earlier ones were approved. So about 9 % of the patients have their
    latest approved authorization ending within the next 30 days and about 40 % none covering
    ``today``, as a worklist of a live programme would have.
    """
    rng = random.Random(f"{seed}:{start}")
    n = stop - start
    firsts = weighted(rng, names.FIRST_NAMES, n)
    lasts = weighted(rng, names.LAST_NAMES, n)
    statuses = weighted(rng, names.MEMBER_STATUSES, n)
    acuities = weighted(rng, names.ACUITY_LEVELS, n)
    genders = weighted(rng, names.GENDERS, n)
    cities = weighted(rng, names.CITIES, n)
    n_auths = rng.choices((1, 2, 3), weights=(50, 35, 15), k=n)
    # The authorizations' dates and statuses come from a generator of their own, so the other
    # rows are drawn as generator version 1 drew them.
    auth_rng = random.Random(f"{seed}:{start}:authorizations")
    latest_statuses = weighted(auth_rng, LATEST_AUTH_STATUSES, n)
    earlier_statuses = weighted(auth_rng, EARLIER_AUTH_STATUSES, 2 * n)
    latest_ends = [today.toordinal() + auth_rng.randint(*LATEST_AUTH_END_DAYS) for _ in range(n)]
    n_activities = rng.choices((0, 1, 2, 3, 4, 5), weights=(10, 20, 25, 20, 15, 10), k=n)
    olcms = rng.choices(users.lcm_ids, weights=users.lcm_weights, k=n)
    ilcms = rng.choices(users.lcm_ids, weights=users.lcm_weights, k=n)
    providers = rng.choices(users.provider_ids, weights=users.provider_weights, k=n)
    rows: dict[str, list[tuple]] = {table: [] for table in CHUNK_TABLES}
    patients = rows["patients_patient"]
    eligibility = rows["patients_ecmeligibilityinformation"]
    authorizations = rows["patients_ecmauthorization"]
    history = rows["patients_ecmstatushistory"]
    activities = rows["patients_activity"]
    case_loads = rows["care_team_caseload"]
    lcm_history = rows["care_team_lcmassignmenthistory"]
    random_ = rng.random
    timestamp = dt.datetime.fromtimestamp
    utc = dt.UTC
    date = dt.date.fromordinal
    day = dt.timedelta(days=1)
    reference = REFERENCE.timestamp()
    reference_day = REFERENCE.date().toordinal()
    dob_base = dt.date(1935, 1, 1).toordinal()
    year = 365 * 86400
    streets, n_streets = names.STREETS, len(names.STREETS)
    orgs, n_orgs = names.ECM_PROVIDERS, len(names.ECM_PROVIDERS)
    npis = [make_npi(1000 + k) for k in range(n_orgs)]
    services = ["[]"] + [json.dumps(names.SERVICES[k : k + 2]) for k in range(5)]
    auth_kinds = ("Initial", "Reauthorization", "Retro")
    kinds = ("member_imported", "note", "lcm_assigned", "status_changed")
    letters = CIN_LETTERS
    admin_name = f"{ADMIN_FIRST} {ADMIN_LAST}"
    for k in range(n):
        pid = start + k
        first, last = firsts[k], lasts[k]
        age = random_() * 3 * year  # created within the three years before the reference
        created = timestamp(reference - age, utc)
        updated = timestamp(reference - age * random_(), utc)
        city, zip_prefix = cities[k]
        patients.append(
            (
                pid,
                first,
                last,
                None if random_() < 0.03 else date(dob_base + int(random_() * 32_000)),
                genders[k],
                ""
                if random_() < 0.1
                else f"({200 + int(random_() * 800)}) 555-{int(random_() * 10_000):04d}",
                f"{first}.{last}{pid % 1000}@example.com".lower() if random_() < 0.4 else "",
                f"{1 + int(random_() * 9998)} {streets[pid % n_streets]}",
                city,
                "CA",
                f"{zip_prefix}{int(random_() * 100):02d}",
                services[0] if random_() < 0.5 else services[1 + pid % 5],
                created,
                updated,
            )
        )
        eff_day = reference_day - int(random_() * 730)
        eff = date(eff_day)
        status = statuses[k]
        eligibility.append(
            (
                pid,
                pid,
                f"MEM{pid:010d}",
                f"{int(random_() * 1e8):08d}{letters[int(random_() * len(letters))]}",
                "" if random_() < 0.1 else f"SA{pid:09d}",
                orgs[pid % n_orgs],
                npis[pid % n_orgs],
                eff,
                None if random_() < 0.2 else date(eff_day + 364),
                acuities[k],
                status,
                created,
                updated,
            )
        )
        count = n_auths[k]
        for j in range(count):
            end_date = date(latest_ends[k] - 182 * (count - 1 - j))
            latest = j == count - 1
            random_()  # version 1 drew the status here
            authorizations.append(
                (
                    pid,
                    f"AUTH{pid:010d}-{j + 1}",
                    "ECM" if random_() < 0.8 else "CS",
                    auth_kinds[j],
                    latest_statuses[k] if latest else earlier_statuses[2 * k + j],
                    end_date - 181 * day,
                    end_date,
                    created,
                    updated,
                )
            )
        if random_() < 0.4:  # joined earlier with another status
            earlier = "pending_member" if status == "new_member" else "new_member"
            history.append((pid, earlier, created, "System Import", None))
        history.append((pid, status, updated, "System Import", None))
        for _ in range(n_activities[k]):
            kind = kinds[int(random_() * 4)]
            if kind == "member_imported":
                actor, actor_name = None, "System Import"
            elif random_() < 0.3:
                actor, actor_name = ADMIN_ID, admin_name
            else:
                actor = olcms[k]
                actor_name = users.names[actor]
            activities.append(
                (
                    pid,
                    kind,
                    ACTIVITY_TEXT[kind],
                    actor,
                    actor_name,
                    "{}",
                    timestamp(reference - age * random_(), utc),
                )
            )
        if random_() < 0.9:  # 10% of the patients have no case load yet
            provider = providers[k] if random_() < 0.95 else None
            olcm = olcms[k] if random_() < 0.93 else None
            ilcm = ilcms[k] if random_() < 0.85 else None
            assigned = timestamp(reference - age * random_(), utc)
            case_loads.append(
                (
                    pid,  # the case load's id is its patient's
                    pid,
                    provider,
                    olcm,
                    ilcm,
                    assigned if provider else None,
                    assigned if olcm else None,
                    assigned if ilcm else None,
                    created,
                    assigned,
                )
            )
            for role, user in (("olcm", olcm), ("ilcm", ilcm)):
                if user is not None:
                    lcm_history.append((pid, role, None, user, ADMIN_ID, admin_name, "", assigned))
    return rows
