"""Pure pieces of the harness: identifiers, sampling, CSV rows, the requests, statistics.

Nothing here touches the network or a database, so ``tests/bench`` can check it quickly.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import names

API = "/v1/admin/clinic/ecm"
NPI_LUHN_PREFIX = "80840"
CIN_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
# Member ids the import workload creates (and removes afterwards): never built by dataset.py.
IMPORT_MEMBER_FIRST = 9_000_000_001
IMPORT_MEMBER_PREFIX = "MEM9"
# The per-request latency figures are compared with these targets (milliseconds, at 1,000,000
# patients); write operations in seconds.
READ_TARGET_MS = {
    "list": 60.0,
    "list_deep": 60.0,
    "search_name": 60.0,
    "search_full_name": 60.0,
    "search_member_id": 60.0,
    "search_member_id_partial": 60.0,
    "filter_sort": 60.0,
    "worklist_expiring": 60.0,
    "worklist_missing": 60.0,
    "detail": 15.0,
    "patient_lcms": 10.0,
    "patient_lcms_history": 15.0,
    "patient_lcms_as_of": 15.0,
    "lcm_list": 50.0,
    "workload": 100.0,
    "lcm_patients": 60.0,
}
# The instant the care team and caseload are read as of: within the data set's assignments.
AS_OF_DATE = "2025-07-01"
OVERHEAD_TARGET_MS = 10.0
WRITE_TARGET_S = {
    "bulk_assign": 1.0,
    "import_members_create": 30.0,
    "import_members_rerun": 30.0,
    "bulk_assign_lcms": 30.0,
    "auto_assign": 1.0,
    "plan_caseloads_preview": 5.0,
    "plan_caseloads_apply": 30.0,
    "transfer_caseload": 10.0,
}
TARGET_PATIENTS = 1_000_000

Log = Callable[[str], None]


def log(message: str) -> None:
    """Progress of a run, printed as it happens."""
    print(message, flush=True)


# --- identifiers -----------------------------------------------------------------------------


def member_id(number: int) -> str:
    return f"MEM{number:010d}"


def npi_check_digit(base: str) -> str:
    """Luhn check digit of a nine-digit NPI base, with the 80840 prefix (as the app checks)."""
    if len(base) != 9 or not base.isdigit():
        raise ValueError("an NPI base is nine digits")
    total = 0
    for position, char in enumerate(reversed(NPI_LUHN_PREFIX + base)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def make_npi(number: int) -> str:
    """A valid ten-digit NPI derived from ``number`` (its nine-digit base starts with 1)."""
    base = f"1{number % 100_000_000:08d}"
    return base + npi_check_digit(base)


def make_cin(rng: random.Random) -> str:
    """A Medi-Cal CIN: eight digits and a letter (nine characters)."""
    return f"{rng.randrange(10**8):08d}{rng.choice(CIN_LETTERS)}"


def cum_weights(pairs: Sequence[tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    """``(values, cumulative weights)`` for ``random.choices``."""
    values = [value for value, _ in pairs]
    return values, list(itertools.accumulate(weight for _, weight in pairs))


def weighted(rng: random.Random, pairs: Sequence[tuple[Any, int]], k: int) -> list[Any]:
    values, cum = cum_weights(pairs)
    return rng.choices(values, cum_weights=cum, k=k)


# --- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (``q`` in 0..100); ``None`` when empty."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


def verdict(value: float | None, limit: float | None) -> str:
    if value is None or limit is None:
        return "n/a"
    return "PASS" if value <= limit else "FAIL"


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None = None


@dataclass
class ReadRoute:
    name: str
    label: str  # what the table shows, e.g. "GET /patients?search=mar"
    variants: list[Request] = field(default_factory=list)
    checks_total: bool = False  # the response's pagination.total_count must equal N
    # ... or this, when the route lists something else than every patient.
    expected_total: int | None = None

    @property
    def target_ms(self) -> float:
        return READ_TARGET_MS[self.name]


READ_ROUTE_NAMES = tuple(READ_TARGET_MS)
WRITE_NAMES = (
    "bulk_assign", "import_members", "bulk_assign_lcms", "auto_assign", "plan_caseloads",
    "transfer_caseload",
)  # fmt: skip
# The read routes measured while an import and bulk assignments run (``bench.mixed``).
MIXED_NAME = "mixed"


def read_routes(
    *,
    patients: int,
    sample_ids: Sequence[int],
    caseload: tuple[int, int],
    name_term: str = "mar",
) -> list[ReadRoute]:
    """Every read route with its request variants (deterministic for a given sample).

    ``sample_ids`` are ids of existing ECM patients; routes that take an id rotate through
    them so the database does not answer the same row from the same buffers every time.
    ``caseload``: an LCM's id and how many patients they hold (the exact total the caseload
    route must answer).
    """
    if not sample_ids:
        raise ValueError("sample_ids must not be empty")
    per_page = 25
    last_page = max(1, math.ceil(patients / per_page))
    deep_page = max(1, last_page - 1)
    ids = list(sample_ids)
    middle = ids[len(ids) // 2]
    partial = member_id(middle)[:-2]  # "MEM00004997": matches up to 100 members
    full_ids = ids[:10]
    return [
        ReadRoute("list", "GET /patients", [Request("GET", f"{API}/patients")], True),
        ReadRoute(
            "list_deep",
            f"GET /patients?page={deep_page}&per_page={per_page}",
            [Request("GET", f"{API}/patients?page={deep_page}&per_page={per_page}")],
            True,
        ),
        ReadRoute(
            "search_name",
            f"GET /patients?search={name_term}",
            [Request("GET", f"{API}/patients?search={name_term}")],
        ),
        ReadRoute(
            "search_full_name",
            "GET /patients?search=maria gar",
            [Request("GET", f"{API}/patients?search=maria%20gar")],
        ),
        ReadRoute(
            "search_member_id",
            "GET /patients?search=<full member_id>",
            [Request("GET", f"{API}/patients?search={member_id(i)}") for i in full_ids],
        ),
        ReadRoute(
            "search_member_id_partial",
            f"GET /patients?search={partial}",
            [Request("GET", f"{API}/patients?search={partial}")],
        ),
        ReadRoute(
            "filter_sort",
            "POST /patients/filter {status, acuity_level} sort_by=name",
            [
                Request(
                    "POST",
                    f"{API}/patients/filter",
                    {
                        "filters": {"status": "continuing_member", "acuity_level": "high"},
                        "sort_by": "name",
                    },
                )
            ],
        ),
        # The authorization worklist (authorizations dated around the day of the build).
        ReadRoute(
            "worklist_expiring",
            "GET /patients?authorization_expiring_within_days=30",
            [Request("GET", f"{API}/patients?authorization_expiring_within_days=30")],
        ),
        ReadRoute(
            "worklist_missing",
            "POST /patients/filter {missing_active_authorization: true}",
            [
                Request(
                    "POST",
                    f"{API}/patients/filter",
                    {"filters": {"missing_active_authorization": True}},
                )
            ],
        ),
        ReadRoute(
            "detail",
            "GET /patients/{id}",
            [Request("GET", f"{API}/patients/{i}") for i in ids],
        ),
        ReadRoute(
            "patient_lcms",
            "GET /patients/{id}/lead_care_managers",
            [Request("GET", f"{API}/patients/{i}/lead_care_managers") for i in ids],
        ),
        ReadRoute(
            "patient_lcms_history",
            "GET /patients/{id}/lead_care_managers/history",
            [Request("GET", f"{API}/patients/{i}/lead_care_managers/history") for i in ids],
        ),
        ReadRoute(
            "patient_lcms_as_of",
            f"GET /patients/{{id}}/lead_care_managers?as_of={AS_OF_DATE}",
            [
                Request("GET", f"{API}/patients/{i}/lead_care_managers?as_of={AS_OF_DATE}")
                for i in ids
            ],
        ),
        ReadRoute(
            "lcm_list",
            "GET /lead_care_managers",
            [Request("GET", f"{API}/lead_care_managers")],
        ),
        ReadRoute(
            "workload",
            "GET /lead_care_managers/workload",
            [Request("GET", f"{API}/lead_care_managers/workload")],
        ),
        ReadRoute(
            "lcm_patients",
            f"GET /lead_care_managers/{{id}}/patients (the LCM holding most: {caseload[1]:,})",
            [Request("GET", f"{API}/lead_care_managers/{caseload[0]}/patients")],
            expected_total=caseload[1],
        ),
    ]


def bulk_assign_body(
    rng: random.Random,
    *,
    patient_ids: Sequence[int],
    lcm_ids: Sequence[int],
    provider_ids: Sequence[int],
    size: int = 1000,
) -> dict:
    """A ``POST /lead_care_managers/bulk_assign`` body: ``size`` distinct patients."""
    chosen = rng.sample(list(patient_ids), size)
    items = []
    for patient_id in chosen:
        item: dict[str, Any] = {"patient_id": patient_id}
        shape = rng.random()
        if shape < 0.7:
            item["olcm_user_id"] = rng.choice(lcm_ids)
            item["ilcm_user_id"] = rng.choice(lcm_ids)
        elif shape < 0.85:
            item["olcm_user_id"] = rng.choice(lcm_ids)
        else:
            item["ilcm_user_id"] = rng.choice(lcm_ids)
        if provider_ids and rng.random() < 0.2:
            item["provider_id"] = rng.choice(provider_ids)
        item["reason"] = "bench: caseload rebalancing"
        items.append(item)
    return {"assignments": items}


# --- CSV files for the commands ----------------------------------------------------------------

IMPORT_MEMBER_COLUMNS = (
    "member_id", "cin", "first_name", "last_name", "date_of_birth", "gender", "phone", "email",
    "street", "city", "state", "zip", "ecm_service_auth_id", "ecm_provider_name", "ecm_npi",
    "ecm_benefit_auth_eff_date", "ecm_benefit_auth_end_date", "acuity_level",
    "member_record_status",
)  # fmt: skip


def import_member_rows(count: int, seed: int, first: int = IMPORT_MEMBER_FIRST) -> Iterator[dict]:
    """``count`` valid rows of the eligibility feed for members ``MEM9000000001`` onwards."""
    rng = random.Random(seed)
    firsts = weighted(rng, names.FIRST_NAMES, count)
    lasts = weighted(rng, names.LAST_NAMES, count)
    statuses = weighted(rng, names.MEMBER_STATUSES, count)
    acuities = weighted(rng, names.ACUITY_LEVELS, count)
    genders = weighted(rng, names.GENDERS, count)
    cities = weighted(rng, names.CITIES, count)
    base = dt.date(2025, 1, 1).toordinal()
    for k in range(count):
        number = first + k
        eff = dt.date.fromordinal(base + rng.randrange(365))
        city, zip_prefix = cities[k]
        yield {
            "member_id": member_id(number),
            "cin": make_cin(rng),
            "first_name": firsts[k],
            "last_name": lasts[k],
            "date_of_birth": dt.date.fromordinal(
                dt.date(1935, 1, 1).toordinal() + rng.randrange(32_000)
            ).isoformat(),
            "gender": genders[k],
            "phone": f"({rng.randrange(200, 999)}) 555-{rng.randrange(10_000):04d}",
            "email": f"{firsts[k]}.{lasts[k]}{k % 1000}@example.com".lower(),
            "street": f"{rng.randrange(1, 9999)} {rng.choice(names.STREETS)}",
            "city": city,
            "state": "CA",
            "zip": f"{zip_prefix}{rng.randrange(100):02d}",
            "ecm_service_auth_id": f"SA{number % 10**9:09d}",
            "ecm_provider_name": rng.choice(names.ECM_PROVIDERS),
            "ecm_npi": make_npi(number),
            "ecm_benefit_auth_eff_date": eff.isoformat(),
            "ecm_benefit_auth_end_date": (eff + dt.timedelta(days=364)).isoformat(),
            "acuity_level": acuities[k],
            "member_record_status": statuses[k],
        }


BULK_ASSIGN_COLUMNS = ("patient_id", "olcm_user_id", "ilcm_user_id", "provider_id")


def bulk_assign_rows(
    count: int,
    seed: int,
    *,
    patient_ids: Sequence[int],
    lcm_ids: Sequence[int],
    provider_ids: Sequence[int],
) -> Iterator[dict]:
    """``count`` rows for ``bulk_assign_lcms`` (distinct patients when there are enough)."""
    rng = random.Random(seed)
    pool = list(patient_ids)
    chosen = rng.sample(pool, count) if count <= len(pool) else rng.choices(pool, k=count)
    for patient_id in chosen:
        shape = rng.random()
        olcm = rng.choice(lcm_ids) if shape < 0.85 else ""
        ilcm = rng.choice(lcm_ids) if shape >= 0.6 or not olcm else ""
        provider = rng.choice(provider_ids) if provider_ids and rng.random() < 0.2 else ""
        yield {
            "patient_id": patient_id,
            "olcm_user_id": olcm,
            "ilcm_user_id": ilcm,
            "provider_id": provider,
        }


def sql_outline(statement: str, limit: int = 400) -> str:
    """One line of SQL with the top-level select list elided (``SELECT … FROM ...``)."""
    flat = " ".join(statement.split()).replace("`", "'")
    upper = flat.upper()
    if upper.startswith("SELECT "):
        depth, quoted = 0, False
        for position, char in enumerate(flat):
            if char == "'":
                quoted = not quoted
            elif quoted:
                continue
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            elif depth == 0 and upper.startswith(" FROM ", position):
                select_list = flat[len("SELECT ") : position]
                if len(select_list) > 60:
                    flat = "SELECT … " + flat[position + 1 :]
                break
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


SEQ_SCAN = re.compile(r"(?:Parallel )?Seq Scan on (\w+)")
SORT_DISK = re.compile(r"Sort Method: external merge\s+Disk: (\d+kB)")
JIT_TOTAL = re.compile(r"JIT:.*?Timing:.*?Total ([\d.]+) ms", re.S)
PLAN_TIMES = re.compile(r"^(Planning|Execution) Time: ([\d.]+) ms", re.M)


def plan_hints(plan: str) -> list[str]:
    """Short notes from an ``EXPLAIN ANALYZE`` text: sequential scans, disk sorts, JIT, times."""
    hints = sorted({f"Seq Scan on {m.group(1)}" for m in SEQ_SCAN.finditer(plan)})
    hints += [f"sort spills to disk ({m.group(1)})" for m in SORT_DISK.finditer(plan)]
    hints += [f"JIT compilation {float(m.group(1)):.1f} ms" for m in JIT_TOTAL.finditer(plan)]
    hints += [f"{m.group(1).lower()} {float(m.group(2)):.2f} ms" for m in PLAN_TIMES.finditer(plan)]
    return hints


# --- the Markdown report -----------------------------------------------------------------------


def fmt_ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
