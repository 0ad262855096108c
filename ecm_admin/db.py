"""Database helpers shared by the set-based writers.

On PostgreSQL they skip the ORM's per-value preparation, which costs more than the database
work for thousands of rows: append-only rows go in with ``COPY ... FROM STDIN`` (no RETURNING,
no SQL text to build), ids for new rows come from the table's sequence in one query, and
existing rows are updated with one ``UPDATE ... FROM unnest(...)``. Elsewhere (SQLite) they
fall back to ``bulk_create``, so the rows written are the same on every database.

Every statement runs on Django's connection, inside the caller's transaction. COPY bypasses
Django's cursor wrapper, so it is recorded in ``connection.queries`` (and the
``django.db.backends`` log) like any other statement: query-count checks still see it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any

from django.db import connection, models
from django.db.backends.utils import logger
from django.db.models.lookups import In, Lookup
from django.utils import timezone

# Fields whose model attribute is already what psycopg should send (no ORM preparation).
_PLAIN_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "DateField",
        "DateTimeField",
        "EmailField",
        "ForeignKey",
        "IntegerField",
        "OneToOneField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
    }
)


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _fields(model: type[models.Model], attnames: Sequence[str]) -> list[models.Field]:
    by_attname = {field.attname: field for field in model._meta.concrete_fields}
    return [by_attname[name] for name in attnames]


def _check_complete(model: type[models.Model], fields: Sequence[str]) -> None:
    missing = [
        field.attname
        for field in model._meta.concrete_fields
        if not field.primary_key and field.attname not in fields
    ]
    if missing:
        raise ValueError(f"{model.__name__} rows need a value for {', '.join(missing)}")


def _log(sql: str, started: float) -> None:
    """Record a statement run on the raw psycopg cursor as Django's debug cursor would."""
    if not connection.queries_logged:
        return
    duration = time.monotonic() - started
    connection.queries_log.append({"sql": sql, "time": f"{duration:.3f}"})
    logger.debug(
        "(%.3f) %s; args=%s; alias=%s",
        duration,
        sql,
        None,
        connection.alias,
        extra={"duration": duration, "sql": sql, "params": None, "alias": connection.alias},
    )


def copy_insert(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert ``rows`` into ``model``'s table; nothing is returned (no ids).

    ``fields`` are attribute names (``patient_id``, not ``patient``); each row holds their
    values in that order, as the model would hold them (a JSON field's value as a Python
    object, aware datetimes). Defaults are not applied, so every field but the id must be
    given (ValueError otherwise); an ``auto_now`` field takes the time of the write, whatever
    the row says, as with ``bulk_create``. The rows are then the same on every database.
    PostgreSQL: one ``COPY ... FROM STDIN``, streaming ``rows`` as they come (the server
    inserts while the caller builds the next rows); elsewhere ``bulk_create``.
    """
    _check_complete(model, fields)
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    rows = chain([first], rows)
    if not _on_postgresql():
        model.objects.bulk_create([model(**dict(zip(fields, row, strict=True))) for row in rows])
        return
    targets = list(enumerate(_fields(model, fields)))
    json_columns = [
        (position, partial(json.dumps, cls=field.encoder))
        for position, field in targets
        if isinstance(field, models.JSONField)
    ]
    stamped = [position for position, field in targets if getattr(field, "auto_now", False)]
    qn = connection.ops.quote_name
    sql = f"COPY {qn(model._meta.db_table)} ({', '.join(map(qn, fields))}) FROM STDIN"
    connection.validate_no_broken_transaction()
    with connection.cursor() as cursor:
        started = time.monotonic()
        with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
            if json_columns or stamped:
                rows = _prepared(rows, json_columns, stamped, timezone.now())
            for row in rows:
                copy.write_row(row)
        _log(sql, started)


def _prepared(
    rows: Iterable[Sequence[Any]],
    json_columns: list[tuple[int, Callable[[Any], str]]],
    stamped: list[int],
    now: dt.datetime,
) -> Iterator[list[Any]]:
    """The rows with their JSON columns as JSON text (for COPY's text format; a value shared
    by many rows, the same object, is encoded once) and ``now`` in the ``stamped`` columns."""
    encoded: dict[int, tuple[Any, str]] = {}
    for row in rows:
        row = list(row)
        for position in stamped:
            row[position] = now
        for position, dumps in json_columns:
            value = row[position]
            cached = encoded.get(id(value))
            if cached is None or cached[0] is not value:
                cached = encoded[id(value)] = (value, dumps(value))
            row[position] = cached[1]
        yield row


def insert_returning_ids(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> list[int]:
    """Insert ``rows`` (as for ``copy_insert``) and return their new ids, in row order.

    PostgreSQL: the ids are drawn from the table's id sequence in one query (as an INSERT
    would draw them), then the rows are copied in with them.
    """
    _check_complete(model, fields)
    rows = list(rows)
    if not rows:
        return []
    if not _on_postgresql():
        objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
        model.objects.bulk_create(objs)
        return [obj.pk for obj in objs]
    pk = model._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [connection.ops.quote_name(model._meta.db_table), pk.column, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    copy_insert(
        model,
        [pk.attname, *fields],
        [(pk_value, *row) for pk_value, row in zip(ids, rows, strict=True)],
    )
    return ids


def updates_read_named_fields_only() -> bool:
    """Whether ``bulk_update_rows`` reads from the instances only the fields it is given, when
    those are plain columns (on PostgreSQL; elsewhere it reads every field, so a deferred one
    would be loaded row by row)."""
    return _on_postgresql()


def bulk_update_rows(objs: Sequence[models.Model], fields: list[str]) -> None:
    """Write ``fields`` of rows that already exist (and that the caller has locked).

    As ``save(update_fields=...)`` would: each field's ``pre_save`` runs first (an
    ``auto_now`` field takes the time of the write, on the instance too). PostgreSQL: one
    ``UPDATE ... FROM unnest(...)`` for all rows (fields of other types than plain columns,
    JSON for example, take the generic path instead). Elsewhere one
    ``INSERT ... ON CONFLICT (id) DO UPDATE`` per batch: every row conflicts on its id, so each
    is updated and none inserted (``QuerySet.bulk_update`` builds CASE expressions whose cost
    grows with rows x columns: seconds for a thousand rows).
    """
    if not objs:
        return
    model = type(objs[0])
    targets = _fields(model, [model._meta.get_field(name).attname for name in fields])
    if not _on_postgresql() or any(
        field.get_internal_type() not in _PLAIN_TYPES for field in targets
    ):
        model.objects.bulk_create(
            objs, update_conflicts=True, unique_fields=["id"], update_fields=fields
        )
        return
    pk = model._meta.pk
    columns = [[obj.pk for obj in objs]]
    columns += [[field.pre_save(obj, False) for obj in objs] for field in targets]
    # Each column as one array literal (text): psycopg would adapt a list value by value.
    columns = [_array_literal(values) for values in columns]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    names = [qn(pk.column), *(qn(field.column) for field in targets)]
    types = [pk.db_type(connection), *(field.db_type(connection) for field in targets)]
    # A foreign key's db_type is its target's; the casts type columns that are all NULL.
    arrays = ", ".join(f"%s::{db_type}[]" for db_type in types)
    assign = ", ".join(f"{name} = v.{name}" for name in names[1:])
    sql = (
        f"UPDATE {table} SET {assign} FROM unnest({arrays}) AS v({', '.join(names)})"
        f" WHERE {table}.{names[0]} = v.{names[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)


def _array_literal(values: Sequence[Any]) -> str:
    """``values`` as the text of a PostgreSQL array literal, such as ``{1,NULL,"a b"}``.

    For the plain column types of ``_PLAIN_TYPES``: numbers as they are, dates and aware
    datetimes in ISO 8601, booleans as ``t``/``f``, text quoted, ``None`` as ``NULL``.
    """
    return "{" + ",".join(map(_array_element, values)) + "}"


def _array_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):  # datetimes too
        return f'"{value.isoformat()}"'
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


class AnyOf(Lookup):
    """``field__any_of=values``: ``field = ANY('{...}'::type[])`` on PostgreSQL, ``IN``
    elsewhere.

    For long lists of ids or keys (a chunk's patients, member ids): ``__in`` prepares,
    resolves and binds every value on its own, which costs milliseconds per thousand values;
    here the list is one array literal (integers as the column's type, strings as ``text``:
    never cast to a shorter ``varchar``, which would truncate them). Lists of other values go
    to ``IN``.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return list(self.rhs)

    def as_sql(self, compiler, connection):
        types = {type(value) for value in self.rhs}
        if connection.vendor != "postgresql" or types not in ({int}, {str}):
            return In(self.lhs, self.rhs).as_sql(compiler, connection)
        lhs, params = self.process_lhs(compiler, connection)
        db_type = "text" if types == {str} else self.lhs.output_field.db_type(connection)
        return f"{lhs} = ANY(%s::{db_type}[])", [*params, _array_literal(self.rhs)]


def register_lookups() -> None:
    """Make ``__any_of`` available on every field (``EcmAdminConfig.ready``)."""
    models.Field.register_lookup(AnyOf)
    models.ForeignObject.register_lookup(AnyOf)  # relations look up only their own lookups
