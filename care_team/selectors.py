"""Every read of care teams and Lead Care Managers."""

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import (
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Concat, Lower

from accounts.choices import RoleName
from accounts.models import Role, User, UserRole
from care_team.choices import CareTeamRole
from care_team.models import CaseLoad
from ecm_admin.statements import Select
from patients.selectors import (
    CARE_TEAM_TABLES,
    ECM_PATIENTS_WITH_CARE_TEAM,
    eligibility_by_member_key,
    member_keys,
)


def active_lcms() -> QuerySet[User]:
    """Users who may be assigned as Lead Care Managers: active, with the ``ecm`` role."""
    return User.objects.with_role(RoleName.ECM).filter(is_active=True)


def lead_care_managers(*, search: str = "", role: str = "") -> QuerySet[User]:
    """Active LCMs ordered by name (the page's ids; ``lead_care_manager_rows`` renders them).

    ``search``: case-insensitive substring of the full name "First Last" (so of first or last
    name too) or of the email. ``role``: ``olcm``/``ilcm`` keeps those holding at least one
    such assignment.
    """
    users = active_lcms()
    search = " ".join(search.split())
    if search:
        users = users.alias(full_name=Concat("first_name", Value(" "), "last_name")).filter(
            Q(full_name__icontains=search) | Q(email__icontains=search)
        )
    if role == CareTeamRole.OLCM:
        users = users.filter(Exists(CaseLoad.objects.filter(olcm_id=OuterRef("pk"))))
    elif role == CareTeamRole.ILCM:
        users = users.filter(Exists(CaseLoad.objects.filter(ilcm_id=OuterRef("pk"))))
    return users.order_by("first_name", "last_name", "id")


# Each count reads one index only (``olcm``, ``ilcm``, ``(olcm, ilcm)``), for the page's rows.
_LEAD_CARE_MANAGER_ROWS = Select(
    "SELECT {columns} FROM accounts_user u WHERE u.id IN ({ids})",
    tables={"u": User},
    columns=[
        "u.id",
        "u.first_name",
        "u.last_name",
        "u.email",
        (
            "olcm_assignments_count",
            "(SELECT COUNT(*) FROM care_team_caseload c WHERE c.olcm_id = u.id)",
            IntegerField(),
        ),
        (
            "ilcm_assignments_count",
            "(SELECT COUNT(*) FROM care_team_caseload c WHERE c.ilcm_id = u.id)",
            IntegerField(),
        ),
        (
            "dual_assignments_count",
            "(SELECT COUNT(*) FROM care_team_caseload c"
            " WHERE c.olcm_id = u.id AND c.ilcm_id = u.id)",
            IntegerField(),
        ),
    ],
)
_ROLE_NAMES = Select(
    "SELECT {columns} FROM accounts_userrole ur JOIN accounts_role r ON r.id = ur.role_id"
    " WHERE ur.user_id IN ({ids})",
    tables={"ur": UserRole, "r": Role},
    columns=["ur.user_id", "r.name"],
)


def lead_care_manager_rows(ids: list[int]) -> list[dict]:
    """The LCMs of one page (any order) with their assignment counts (correlated subqueries,
    computed for these rows only) and their role names (``"roles"``, sorted): two queries.

    The distinct patients are the oLCM assignments plus the iLCM ones, less those where the
    user is both (added up where the row is rendered).
    """
    rows = _LEAD_CARE_MANAGER_ROWS.dicts(ids=ids)
    roles: dict[int, list[str]] = {}
    for user_id, name in _ROLE_NAMES.rows(ids=ids):
        roles.setdefault(user_id, []).append(name)
    for row in rows:
        row["roles"] = sorted(roles.get(row["u.id"], []))
    return rows


def lead_care_manager_row_id(row: dict) -> int:
    return row["u.id"]


_CARE_TEAM = Select(
    "SELECT {columns}" + ECM_PATIENTS_WITH_CARE_TEAM + " WHERE p.id = %s",
    tables=CARE_TEAM_TABLES,
    columns=[
        "p.id",
        "p.first_name",
        "p.last_name",
        "c.id",
        "c.provider_id",
        "c.olcm_id",
        "c.ilcm_id",
        "c.olcm_assigned_at",
        "c.ilcm_assigned_at",
        "c.provider_assigned_at",
        "c.created_at",
        *(
            f"{user}.{name}"
            for user in ("pu", "ou", "iu")
            for name in ("first_name", "last_name", "email")
        ),
    ],
)


def patient_care_team(patient_id: int) -> dict | None:
    """The ECM patient's care team in one query: the row ``render_patient_care_team`` shows
    (keyed by column), or ``None`` when there is no such ECM patient."""
    return _CARE_TEAM.first([patient_id])


def ecm_patient_ids_by_member_id(member_ids: Iterable[str]) -> dict[str, int]:
    """Member id as given → id of the ECM patient it names (whatever its case: member ids
    are compared as the unique constraint compares them, ``patients.selectors.member_keys``)."""
    keys = member_keys(member_ids)
    rows = eligibility_by_member_key(set(keys.values())).values_list("member_key", "patient_id")
    by_key = dict(rows)
    return {member_id: by_key[key] for member_id, key in keys.items() if key in by_key}


def active_lcm_ids_by_email(emails: Iterable[str]) -> dict[str, int]:
    """Lower-cased email → id of the active LCM with that email."""
    wanted = {email.lower() for email in emails}
    rows = (
        active_lcms()
        .alias(email_lower=Lower("email"))
        .filter(email_lower__in=wanted)
        .values_list("email", "pk")
    )
    return {email.lower(): pk for email, pk in rows}


# A Lead Care Manager's caseload now: the ECM patients whose case load names them in one of the
# roles asked for. Each role's patients are read in patient order from its (holder, patient)
# index alone (migration 0009), never from the case loads' rows; both roles are the two merged
# (a patient in both once). The page's case loads are then read for the roles held.
#
# Only an ECM patient has a case load: on PostgreSQL a foreign key to the eligibility record
# makes it so (migration 0010), and the count reads the indexes alone. Elsewhere each patient
# is also checked to have eligibility, and the page's patients always are.
_CASELOAD_HELD = "SELECT patient_id FROM care_team_caseload WHERE {role}_id = %(user)s"
_CASELOAD_IDS = (
    "SELECT held.patient_id FROM ({held}) held"
    " JOIN patients_ecmeligibilityinformation e ON e.patient_id = held.patient_id"
    " GROUP BY held.patient_id"
)
# The count: each patient once (the union); a sort would wait for every row.
_CASELOAD_COUNT = "SELECT COUNT(*) FROM ({distinct}) held"
_CASELOAD_COUNT_CHECKED = (
    _CASELOAD_COUNT + " JOIN patients_ecmeligibilityinformation e ON e.patient_id = held.patient_id"
)
_CASELOAD_PAGE = (
    "SELECT c.patient_id, c.olcm_id, c.ilcm_id FROM care_team_caseload c"
    " WHERE c.patient_id IN ({ids} ORDER BY held.patient_id LIMIT %(limit)s OFFSET %(offset)s)"
    " ORDER BY c.patient_id"
)
CASELOAD_ROLES = ("olcm", "ilcm")


def caseload_statements(roles: Sequence[str]) -> tuple[str, str]:
    """The count and the page of a caseload in ``roles`` (``%(user)s``, ``%(limit)s``,
    ``%(offset)s``)."""
    each = [_CASELOAD_HELD.format(role=role) for role in CASELOAD_ROLES if role in roles]
    counted = _CASELOAD_COUNT if connection.vendor == "postgresql" else _CASELOAD_COUNT_CHECKED
    count = counted.format(distinct=" UNION ".join(each))
    page = _CASELOAD_PAGE.format(ids=_CASELOAD_IDS.format(held=" UNION ALL ".join(each)))
    return count, page


def caseload_page(
    user_id: int, roles: Sequence[str], *, offset: int, limit: int
) -> tuple[list[tuple[int, list[str]]], int]:
    """A page of the ECM patients for whom ``user_id`` is oLCM or iLCM (of ``roles``), by
    patient id, each with the roles the user holds; and how many there are. Two queries (one
    when the page is past the end)."""
    roles = [role for role in CASELOAD_ROLES if role in roles]
    count, page_sql = caseload_statements(roles)
    params = {"user": user_id, "limit": limit, "offset": offset}
    with connection.cursor() as cursor:
        cursor.execute(count, params)
        total = cursor.fetchone()[0]
        if offset >= total:
            return [], total
        cursor.execute(page_sql, params)
        rows = cursor.fetchall()
    page = []
    for patient_id, olcm_id, ilcm_id in rows:
        holders = {"olcm": olcm_id, "ilcm": ilcm_id}
        page.append((patient_id, [role for role in roles if holders[role] == user_id]))
    return page, total
