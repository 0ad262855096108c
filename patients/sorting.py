"""The patient list's order: the sort keys a client may ask for (``sort_by``, ``sort_dir``) and
the ordering each gives a queryset. Ties are broken by id; missing values sort last either way.
"""

from django.db.models import Case, F, IntegerField, QuerySet, Value, When

from ecm_admin.exceptions import UnprocessableEntity
from patients.choices import ACUITY_RANK

SORT_FIELDS: dict[str, tuple[str, ...]] = {
    "id": (),
    "name": ("last_name", "first_name"),
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "date_of_birth": ("date_of_birth",),
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "member_id": ("ecm_eligibility_information__member_id",),
    "acuity_level": ("acuity_rank",),
    "member_record_status": ("ecm_eligibility_information__member_record_status",),
    "ecm_benefit_auth_eff_date": ("ecm_eligibility_information__ecm_benefit_auth_eff_date",),
    "ecm_benefit_auth_end_date": ("ecm_eligibility_information__ecm_benefit_auth_end_date",),
}
SORT_DIRECTIONS = ("ASC", "DESC")
# Columns that may be empty: their missing values sort last in both directions. The others
# are ordered plainly, so a descending sort can walk its index backwards.
NULLABLE_SORT_KEYS = frozenset(
    {"date_of_birth", "acuity_level", "ecm_benefit_auth_eff_date", "ecm_benefit_auth_end_date"}
)


def parse_sort(sort_by, sort_dir) -> tuple[str, bool]:
    """``(sort key, descending)`` from the whitelists, or 422."""
    sort_by = "id" if sort_by in (None, "") else sort_by
    if not isinstance(sort_by, str) or sort_by not in SORT_FIELDS:
        raise UnprocessableEntity(f"sort_by must be one of: {', '.join(SORT_FIELDS)}")
    direction = "ASC" if sort_dir in (None, "") else sort_dir
    if not isinstance(direction, str) or direction.upper() not in SORT_DIRECTIONS:
        raise UnprocessableEntity("sort_dir must be one of: ASC, DESC")
    return sort_by, direction.upper() == "DESC"


def order_patients(queryset: QuerySet, sort_by, sort_dir) -> QuerySet:
    """Whitelisted ordering (or 422); ties broken by id; missing values last either way."""
    return ordered_patients(queryset, *parse_sort(sort_by, sort_dir))


def ordered_patients(queryset: QuerySet, sort_by: str, descending: bool) -> QuerySet:
    """``queryset`` in the order of a sort key from ``parse_sort``."""
    if sort_by == "acuity_level":
        queryset = queryset.annotate(
            acuity_rank=Case(
                *[
                    When(ecm_eligibility_information__acuity_level=level, then=Value(rank))
                    for level, rank in ACUITY_RANK.items()
                ],
                default=Value(None),
                output_field=IntegerField(),
            )
        )
    nulls_last = True if sort_by in NULLABLE_SORT_KEYS else None
    ordering = [
        F(name).desc(nulls_last=nulls_last) if descending else F(name).asc(nulls_last=nulls_last)
        for name in SORT_FIELDS[sort_by]
    ]
    ordering.append(F("id").desc() if descending else F("id").asc())
    return queryset.order_by(*ordering)
