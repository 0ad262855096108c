"""One FilterSet for ``GET /patients`` query parameters and the ``POST /patients/filter`` body."""

import json
import re
from collections.abc import Sequence
from typing import Any

from django import forms
from django.db import connection
from django.db.models import (
    Case,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Concat, Upper
from django_filters import rest_framework as filters

from care_team.models import CaseLoad
from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.inputs import MAX_ID
from patients import selectors
from patients.choices import ACUITY_RANK, AcuityLevel, MemberRecordStatus
from patients.models import (
    EcmAuthorization,
    EcmEligibilityInformation,
    Patient,
    PatientSearchText,
)
from patients.worklist_filters import WorklistFilters

MAX_SEARCH_LENGTH = 200
# The name search matches, field by field (SQLite; PostgreSQL uses the search table).
PATIENT_SEARCH_NAME = Concat("first_name", Value(" "), "last_name")
MISSING_LCM_CHOICES = [("olcm", "olcm"), ("ilcm", "ilcm"), ("any", "any")]


class IdFilter(filters.NumberFilter):
    """A positive integer id (not a decimal, not a float)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class PatientFilterSet(WorklistFilters):
    """Every filter of the list; the authorization worklist's come from ``WorklistFilters``."""

    search = filters.CharFilter(method="filter_search", max_length=MAX_SEARCH_LENGTH)
    status = filters.ChoiceFilter(
        field_name="ecm_eligibility_information__member_record_status",
        choices=MemberRecordStatus.choices,
    )
    acuity_level = filters.ChoiceFilter(
        field_name="ecm_eligibility_information__acuity_level", choices=AcuityLevel.choices
    )
    provider_id = IdFilter(field_name="case_load__provider_id")
    olcm_user_id = IdFilter(field_name="case_load__olcm_id")
    ilcm_user_id = IdFilter(field_name="case_load__ilcm_id")
    authorization_status = filters.CharFilter(method="filter_authorization_status", max_length=30)
    missing_lcm = filters.ChoiceFilter(method="filter_missing_lcm", choices=MISSING_LCM_CHOICES)

    # Keys accepted inside the body's "filters" object (search is a top-level key there).
    FILTER_KEYS = (
        "status",
        "acuity_level",
        "provider_id",
        "olcm_user_id",
        "ilcm_user_id",
        "authorization_status",
        "missing_lcm",
        *WorklistFilters.WORKLIST_KEYS,
    )

    _form_class = None

    def get_form_class(self):
        """The form is the same for every request: built once (django-filter would build the
        class and its nine fields for every request). A form copies its fields per instance,
        so sharing the class shares nothing a request changes."""
        cls = type(self)
        if cls.__dict__.get("_form_class") is None:
            cls._form_class = super().get_form_class()
        return cls._form_class

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(pk__in=search_patient_ids(term))

    def filter_authorization_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(
            Exists(EcmAuthorization.objects.filter(patient_id=OuterRef("pk"), status__iexact=term))
        )

    def filter_missing_lcm(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        no_olcm = Q(case_load__isnull=True) | Q(case_load__olcm__isnull=True)
        no_ilcm = Q(case_load__isnull=True) | Q(case_load__ilcm__isnull=True)
        condition = {"olcm": no_olcm, "ilcm": no_ilcm, "any": no_olcm | no_ilcm}[value]
        return queryset.filter(condition)

    def search_table_term(self, sort_key: str) -> str | None:
        """The term, when the list is a search alone in id order on PostgreSQL (call after
        ``validate``): then the search table alone answers it (``search_table_page``)."""
        criteria = self._criteria()
        if set(criteria) != {"search"} or sort_key != "id":
            return None
        return criteria["search"] if _search_table_usable(criteria["search"]) else None

    def _criteria(self) -> dict:
        criteria = {
            name: value.strip() if isinstance(value, str) else value
            for name, value in self.form.cleaned_data.items()
        }
        return {name: value for name, value in criteria.items() if value not in (None, "")}

    def count(self) -> int:
        """How many patients the filters select (call after ``filtered``): exact."""
        criteria = self._criteria()
        if set(criteria) == {"search"}:
            known = search_gram_count(criteria["search"])
            if known is not None:
                return known
        known = self.worklist_count(criteria)
        if known is not None:
            return known
        rows = self.counted_rows()
        return selectors.ecm_patient_count() if rows is None else rows.count()

    def counted_rows(self) -> QuerySet | None:
        """The rows ``count`` counts; None when no criterion is given (the stored total).

        The same criteria as ``qs``, applied to the eligibility rows instead of the patients:
        every ECM patient has exactly one eligibility row, so counting those needs no join to
        the patient table (the status and acuity filters become index-only counts). A search
        alone on PostgreSQL counts rows of the search table alone.
        """
        criteria = self._criteria()
        if not criteria:
            return None
        if set(criteria) == {"search"} and _search_table_usable(criteria["search"]):
            return _search_table_matches(criteria["search"])
        rows = EcmEligibilityInformation.objects.all()
        for name, value in criteria.items():
            condition = self.worklist_condition(name, value)
            rows = rows.filter(
                _ELIGIBILITY_CRITERIA[name](value) if condition is None else condition
            )
        return rows

    def validate(self) -> None:
        """422 naming every bad parameter."""
        if not self.is_valid():
            raise UnprocessableEntity(filter_error_sentences(self))

    def filtered(self) -> QuerySet:
        """The filtered queryset, or 422 naming every bad parameter."""
        self.validate()
        return self.qs


def search_patient_ids(term: str) -> QuerySet:
    """Ids of the patients whose "First Last", member_id or CIN contains ``term``
    (case-insensitive substring).

    PostgreSQL: the search table of migration 0006, one trigram index, ECM patients only.
    Elsewhere (or for a term containing the table's field separator): ``names UNION ids``.
    """
    if _search_table_usable(term):
        return _search_table_matches(term).values("patient_id")
    by_name = (
        Patient.objects.alias(search_name=PATIENT_SEARCH_NAME)
        .filter(search_name__icontains=term)
        .order_by()
        .values("pk")
    )
    by_ids = (
        EcmEligibilityInformation.objects.filter(
            Q(member_id__icontains=term) | Q(cin__icontains=term)
        )
        .order_by()
        .values("patient_id")
    )
    return by_name.union(by_ids)


# A search the planner expects to match at most this many patients reads its page and its
# exact count in one scan (``COUNT(*) OVER ()``): the index scan that finds such a set reads
# all of it anyway, and counting it again would be a second scan of the same index.
NARROW_SEARCH_ESTIMATE = 20_000


class SearchTableStatements:
    """The statements that read a search from the search table alone (PostgreSQL), written
    out: they run on every search request. ``search_text`` holds the upper-cased fields, so a
    term matches as Django's ``contains`` with ``UPPER(term)`` would (the same escaping)."""

    TABLE = PatientSearchText._meta.db_table

    def __init__(self, term: str, descending: bool, pieces: Sequence[str] = ()):
        """``pieces``: rare 3-character pieces of ``UPPER(term)`` (``_rare_pieces``). Given,
        the trigram index looks up those alone, and each row it finds is checked for the whole
        term; otherwise the index looks up every trigram of the term."""
        contains = connection.pattern_ops["contains"].format(
            connection.pattern_esc.format("UPPER(%s)")
        )
        self.term = term
        self.where = self.matching = f"FROM {self.TABLE} WHERE search_text {contains}"
        self.params = [term]
        if pieces:
            found = " AND ".join("search_text LIKE %s" for _ in pieces)
            self.where = f"FROM {self.TABLE} WHERE {found} AND strpos(search_text, UPPER(%s)) > 0"
            self.params = [*(f"%{piece}%" for piece in pieces), term]
        self.descending = descending

    def estimate(self) -> tuple[str, list]:
        """The planner's estimate of the matches, for the whole term: an estimate for its pieces
        would multiply their shares as if they were independent (they rarely are)."""
        return f"EXPLAIN (FORMAT JSON) SELECT patient_id {self.matching}", [self.term]

    def counted_page(self, offset: int, limit: int, *, counted: bool = True) -> tuple[str, list]:
        """The page's ids, each with the count of every match (computed before the cut) unless
        ``counted`` is false.

        The matches are gathered first, as a set (``MATERIALIZED``): asked for a few rows in id
        order, the planner may walk the primary key and filter every row of the table, not
        seeing that the count needs every match anyway (seen: 320 ms instead of 23 ms for a
        search matching 2,300 of 1,000,000 patients).
        """
        count = ", COUNT(*) OVER ()" if counted else ""
        sql = (
            f"WITH matches AS MATERIALIZED (SELECT patient_id {self.where}) "
            f"SELECT patient_id{count} FROM matches {self._order(False)}"
        )
        return f"{sql} LIMIT %s OFFSET %s", [*self.params, limit, offset]

    def count(self) -> tuple[str, list]:
        return f"SELECT COUNT(*) {self.where}", self.params

    def page(self, offset: int, limit: int, *, reverse: bool = False) -> tuple[str, list]:
        sql = f"SELECT patient_id {self.where} {self._order(reverse)} LIMIT %s OFFSET %s"
        return sql, [*self.params, limit, offset]

    def _order(self, reverse: bool) -> str:
        return "ORDER BY patient_id " + ("DESC" if self.descending != reverse else "ASC")


def search_table_page(term: str, descending: bool, offset: int, limit: int):
    """``(page ids, exact count)`` of a search alone in id order, from the search table.

    The count of a 3-character term is read from the counts kept per term
    (``search_gram_count``); otherwise the planner's estimate of the matches decides: a narrow
    search reads page and count in one query, a broad one counts, then reads its page. The page
    of a broad search comes cheap from the primary key in order (past the middle, the mirrored
    page from the other end skips fewer matches); a narrow one gathers its matches first.
    """
    with connection.cursor() as cursor:
        total = _gram_count(cursor, term)
        statements = SearchTableStatements(
            term, descending, () if total is not None else _rare_pieces(cursor, term)
        )
        if total is None:
            cursor.execute(*statements.estimate())
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            if plan[0]["Plan"]["Plan Rows"] <= NARROW_SEARCH_ESTIMATE:
                cursor.execute(*statements.counted_page(offset, limit))
                rows = cursor.fetchall()
                if rows:  # none past the last match: then the count is read below
                    return [pk for pk, _ in rows], rows[0][1]
            cursor.execute(*statements.count())
            total = cursor.fetchone()[0]
        if offset >= total:
            return [], total
        if total <= NARROW_SEARCH_ESTIMATE:
            cursor.execute(*statements.counted_page(offset, limit, counted=False))
            return [pk for (pk,) in cursor.fetchall()], total
        if offset <= total // 2:
            cursor.execute(*statements.page(offset, limit))
            return [pk for (pk,) in cursor.fetchall()], total
        take = min(limit, total - offset)
        cursor.execute(*statements.page(max(total - offset - limit, 0), take, reverse=True))
        return [pk for (pk,) in reversed(cursor.fetchall())], total


# The count of a 3-character term, from the counts of migration 0009: NULL unless UPPER(term) is
# 3 ASCII letters or digits that lower-case back to ASCII (the form the counts are kept in).
GRAM_COUNT_SQL = (
    "SELECT CASE WHEN upper(%s) ~ '^[A-Z0-9]{3}$' AND lower(upper(%s)) ~ '^[a-z0-9]{3}$'"
    " THEN (SELECT coalesce(sum(patients), 0)::bigint FROM patients_searchgramcount"
    " WHERE gram = lower(upper(%s))) END"
)


def search_gram_count(term: str) -> int | None:
    """How many ECM patients a search for ``term`` alone matches, when ``term`` is 3 letters
    or digits and the database keeps counts per such term (PostgreSQL); otherwise None."""
    if not _search_table_usable(term):
        return None
    with connection.cursor() as cursor:
        return _gram_count(cursor, term)


def _gram_count(cursor, term: str) -> int | None:
    if not (len(term) == 3 and term.isascii() and term.isalnum()):
        return None
    cursor.execute(GRAM_COUNT_SQL, [term, term, term])
    return cursor.fetchone()[0]


# The 3-character pieces of letters and digits of UPPER(term) with their counts (migration
# 0009), rarest first; taken from UPPER() in the database, so they are pieces of what is matched.
PIECES_SQL = """
    SELECT piece, (
        SELECT coalesce(sum(patients), 0) FROM patients_searchgramcount WHERE gram = lower(piece)
    ) AS patients, term
    FROM (
        SELECT DISTINCT substr(term, i, 3) AS piece, term
        FROM (SELECT upper(%s) AS term) t, generate_series(1, char_length(term) - 2) i
    ) pieces
    WHERE piece ~ '^[A-Z0-9]{3}$'
    ORDER BY patients, piece
"""
# The trigram index looks up only the two rarest pieces of a term when another of its pieces
# is in at least this many times as many texts.
SKEWED_PIECES = 4


def _rare_pieces(cursor, term: str) -> list[str]:
    """Two rare pieces of the term for the trigram index to look up alone, or none.

    Looking up every trigram of a term can cost more than checking the rows that contain two
    of its rarest pieces:

    - when its pieces are very unequally common: ``MEM0000619123`` has four trigrams each in
      every member ID ("MEM", "000", ...), but "619" and "191" are each in about 1 % of the
      texts (measured: 6 ms instead of 25 at 1,000,000 patients);
    - when it has several words: the rarest piece of one word and the rarest of another are
      rarely in the same text (``MARIA GAR``: "GAR" and "RIA", 13 ms instead of 25).

    A single word whose pieces are about as common as each other (``GARCIA``) is cheaper to
    look up whole: its rows would pass three tests instead of one.
    """
    if len(term) < 4:
        return []
    cursor.execute(PIECES_SQL, [term])
    counted = cursor.fetchall()
    if len(counted) < 2:
        return []
    rarest, fewest, upper_term = counted[0]
    if counted[-1][1] >= SKEWED_PIECES * fewest:
        return [rarest, counted[1][0]]
    home = next(word for word in re.findall("[A-Z0-9]{3,}", upper_term) if rarest in word)
    other = next((piece for piece, _, _ in counted[1:] if piece not in home), None)
    return [rarest, other] if other else []


def _search_table_usable(term: str) -> bool:
    return connection.vendor == "postgresql" and PatientSearchText.SEARCH_SEPARATOR not in term


def _search_table_matches(term: str) -> QuerySet:
    # search_text is stored upper-cased: LIKE '%' || UPPER(term) || '%' (escaped by Django,
    # folded to a constant by the planner, so the trigram index applies).
    return PatientSearchText.objects.filter(search_text__contains=Upper(Value(term))).order_by()


def _has_case_load(**conditions) -> Exists:
    return Exists(CaseLoad.objects.filter(patient_id=OuterRef("patient_id"), **conditions))


# Each filter of PatientFilterSet as a condition on an eligibility row (for ``count``).
# tests/patients/test_filter_counts.py checks every one against the patient query.
_ELIGIBILITY_CRITERIA = {
    "search": lambda term: Q(patient_id__in=search_patient_ids(term)),
    "status": lambda value: Q(member_record_status=value),
    "acuity_level": lambda value: Q(acuity_level=value),
    "provider_id": lambda value: _has_case_load(provider_id=value),
    "olcm_user_id": lambda value: _has_case_load(olcm_id=value),
    "ilcm_user_id": lambda value: _has_case_load(ilcm_id=value),
    "authorization_status": lambda term: Exists(
        EcmAuthorization.objects.filter(patient_id=OuterRef("patient_id"), status__iexact=term)
    ),
    "missing_lcm": lambda value: (
        ~_has_case_load(
            **{
                "olcm": {"olcm_id__isnull": False},
                "ilcm": {"ilcm_id__isnull": False},
                "any": {"olcm_id__isnull": False, "ilcm_id__isnull": False},
            }[value]
        )
    ),
}


def filter_value(name: str, value: Any) -> str | None:
    """A JSON value of a body's ``filters`` as the string the FilterSet parses (``None``: not
    given); ``ValueError`` with the sentence for an object, a list, or a boolean where no
    boolean is accepted."""
    if value is None:
        return None
    if isinstance(value, bool) and name in PatientFilterSet.BOOLEAN_KEYS:
        return "true" if value else "false"
    if isinstance(value, (bool, dict, list)):
        kinds = "a boolean" if name in PatientFilterSet.BOOLEAN_KEYS else "a string or an integer"
        raise ValueError(f"filters.{name} must be {kinds}")
    return str(value)


def filter_error_sentences(filterset: PatientFilterSet) -> list[str]:
    sentences = []
    for name, errors in filterset.form.errors.as_data().items():
        field = filterset.form.fields[name]
        codes = {error.code for error in errors}
        if "max_length" in codes:
            sentences.append(f"{name} must be at most {field.max_length} characters")
        elif isinstance(field, forms.ChoiceField):
            allowed = ", ".join(str(value) for value, _ in field.choices if value != "")
            sentences.append(f"{name} must be one of: {allowed}")
        elif isinstance(field, forms.IntegerField) and field.min_value != 1:
            sentences.append(
                f"{name} must be a whole number from {field.min_value} to {field.max_value}"
            )
        elif isinstance(field, forms.IntegerField):
            sentences.append(f"{name} must be a positive integer")
        else:
            sentences.append(f"{name} is invalid")
    return sentences


# --- sorting -----------------------------------------------------------------

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
    """Whitelisted ordering; ties broken by id; missing values last either way."""
    sort_by, descending = parse_sort(sort_by, sort_dir)
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
