"""Every read of care teams and Lead Care Managers."""

from collections.abc import Iterable

from django.db.models import (
    Exists,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Concat, Lower

from accounts.choices import RoleName
from accounts.models import Role, User, UserRole
from care_team.choices import LcmRole
from care_team.models import CaseLoad
from patients.models import EcmEligibilityInformation, Patient
from patients.selectors import ecm_patients


def _count(queryset: QuerySet) -> Coalesce:
    """``(SELECT COUNT(*) FROM ... WHERE <correlated>)`` as an annotation, 0 when empty."""
    # COUNT(1), not COUNT(id): no column to read, so an index-only scan can answer it.
    counted = queryset.order_by().annotate(n=Func(Value(1), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _holds_role(role: str) -> Exists:
    return Exists(UserRole.objects.filter(user_id=OuterRef("pk"), role__name=role))


def active_lcms() -> QuerySet[User]:
    """Users who may be assigned as Lead Care Managers: active, with the ``ecm`` role."""
    return User.objects.filter(_holds_role(RoleName.ECM), is_active=True)


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
    if role == LcmRole.OLCM:
        users = users.filter(Exists(CaseLoad.objects.filter(olcm_id=OuterRef("pk"))))
    elif role == LcmRole.ILCM:
        users = users.filter(Exists(CaseLoad.objects.filter(ilcm_id=OuterRef("pk"))))
    return users.order_by("first_name", "last_name", "id")


def lead_care_manager_rows(ids: list[int]) -> QuerySet[User]:
    """The LCMs of one page with their assignment counts (correlated subqueries, computed for
    these rows only) and their roles (one prefetch query).

    Each count reads one index only (``olcm``, ``ilcm``, ``(olcm, ilcm)``): the distinct
    patients are the oLCM assignments plus the iLCM ones, less those where the user is both
    (added up where the row is rendered).
    """
    return (
        User.objects.filter(pk__in=ids)
        .annotate(
            olcm_assignments_count=_count(CaseLoad.objects.filter(olcm_id=OuterRef("pk"))),
            ilcm_assignments_count=_count(CaseLoad.objects.filter(ilcm_id=OuterRef("pk"))),
            dual_assignments_count=_count(
                CaseLoad.objects.filter(olcm_id=OuterRef("pk"), ilcm_id=OuterRef("pk"))
            ),
        )
        .prefetch_related(Prefetch("roles", queryset=Role.objects.order_by("name", "id")))
    )


CARE_TEAM_COLUMNS = (
    "first_name",
    "last_name",
    "case_load__provider_id",
    "case_load__olcm_id",
    "case_load__ilcm_id",
    "case_load__olcm_assigned_at",
    "case_load__ilcm_assigned_at",
    *(
        f"case_load__{user}__{name}"
        for user in ("provider", "olcm", "ilcm")
        for name in ("first_name", "last_name", "email")
    ),
)


def patient_care_team(patient_id: int) -> Patient | None:
    """The ECM patient with its case load and the case load's users, in one query (only the
    columns ``render_patient_care_team`` shows)."""
    rows = (
        ecm_patients()
        .select_related("case_load__provider", "case_load__olcm", "case_load__ilcm")
        .only(*CARE_TEAM_COLUMNS)
        .filter(pk=patient_id)
        .order_by()[:1]
    )
    return next(iter(rows), None)


def ecm_patient_ids_by_member_id(member_ids: Iterable[str]) -> dict[str, int]:
    rows = EcmEligibilityInformation.objects.filter(member_id__in=set(member_ids))
    return dict(rows.values_list("member_id", "patient_id"))


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
