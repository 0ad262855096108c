"""The patient search: which ECM patients a term matches, and on PostgreSQL the statements
that read a search alone from the search table (migration 0006), its page and its exact count,
with the counts kept per 3-character term (migration 0009)."""

import json
import re
from collections.abc import Mapping, Sequence

from django.db import connection
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Concat, Upper

from patients.models import EcmEligibilityInformation, Patient, PatientSearchText

# The name search matches, field by field (SQLite; PostgreSQL uses the search table).
PATIENT_SEARCH_NAME = Concat("first_name", Value(" "), "last_name")


def search_table_term(criteria: Mapping, sort_key: str) -> str | None:
    """The term, when the list is a search alone (``criteria``: the given filters, as
    ``PatientFilterSet.criteria`` returns them) in id order on PostgreSQL: then the search
    table alone answers it (``search_table_page``)."""
    if set(criteria) != {"search"} or sort_key != "id":
        return None
    return criteria["search"] if search_table_usable(criteria["search"]) else None


def search_patient_ids(term: str) -> QuerySet:
    """Ids of the patients whose "First Last", member_id or CIN contains ``term``
    (case-insensitive substring).

    PostgreSQL: the search table of migration 0006, one trigram index, ECM patients only.
    Elsewhere (or for a term containing the table's field separator): ``names UNION ids``.
    """
    if search_table_usable(term):
        return search_table_matches(term).values("patient_id")
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
    if not search_table_usable(term):
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


def search_table_usable(term: str) -> bool:
    return connection.vendor == "postgresql" and PatientSearchText.SEARCH_SEPARATOR not in term


def search_table_matches(term: str) -> QuerySet:
    # search_text is stored upper-cased: LIKE '%' || UPPER(term) || '%' (escaped by Django,
    # folded to a constant by the planner, so the trigram index applies).
    return PatientSearchText.objects.filter(search_text__contains=Upper(Value(term))).order_by()
