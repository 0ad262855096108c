"""Hand-written SELECTs for the reads on every request's path.

The ORM builds and compiles a query anew on every call and makes a model instance of every
row it returns. For the few statements that most requests run (the token lookup, the list's
rows, the patient detail, the care team) that costs several times the database's own time,
so they are written out here once and return plain dicts.

Each column is named together with the model field it reads, and its value comes back
converted exactly as the ORM would convert it on that database (``Field.from_db_value`` and
the backend's converters: dates and timestamps on SQLite, JSON, booleans). The statements
use only SQL that PostgreSQL and SQLite both accept, and they go through Django's cursor,
so query logging, ``django_assert_num_queries`` and connection handling are unchanged.

    ROWS = Select(
        "SELECT {columns} FROM patients_patient p WHERE p.id IN ({ids})",
        tables={"p": Patient},
        columns=["p.id", "p.first_name"],
    )
    ROWS.dicts(ids=[1, 2])  # [{"p.id": 1, "p.first_name": "Ana"}, ...]

A column is ``"alias.field"`` (the field's name or attribute name; the key of the value is the
same text) or ``(key, "SQL expression", output field)`` for a computed value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections
from django.db.models import Field, Model
from django.db.models.expressions import Col

Column = str | tuple[str, str, Field]


class Select:
    def __init__(
        self,
        sql: str,
        *,
        tables: Mapping[str, type[Model]],
        columns: Sequence[Column],
    ):
        self.keys: list[str] = []
        self._tables = dict(tables)
        self._columns = list(columns)
        self._sql_template = sql
        self._compiled: tuple[str, list[tuple[str, Col]]] | None = None
        self._converters: dict[str, list[tuple[int, Col, list]]] = {}

    def _compile(self) -> tuple[str, list[tuple[str, Col]]]:
        """The SQL with its select list, and each column's expression (after app loading)."""
        if self._compiled is None:
            items, cols = [], []
            for column in self._columns:
                if isinstance(column, str):
                    alias, name = column.split(".", 1)
                    field = self._tables[alias]._meta.get_field(name)
                    items.append(f"{alias}.{field.column}")
                    cols.append((column, Col(alias, field)))
                else:
                    key, expression, output_field = column
                    items.append(expression)
                    cols.append((key, Col(key, output_field)))
            self.keys = [key for key, _ in cols]
            self._compiled = (self._sql_template.replace("{columns}", ", ".join(items)), cols)
        return self._compiled

    def _converters_for(self, connection) -> list[tuple[int, Col, list]]:
        converters = self._converters.get(connection.alias)
        if converters is None:
            converters = []
            for index, (_, col) in enumerate(self._compile()[1]):
                found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if found:
                    converters.append((index, col, found))
            self._converters[connection.alias] = converters
        return converters

    def rows(self, params: Sequence[Any] = (), *, ids: Sequence[Any] = (), using="default"):
        """The rows as tuples of converted values (``ids`` fills the ``{ids}`` list)."""
        connection = connections[using]
        sql, _ = self._compile()
        if "{ids}" in sql:
            if not ids:
                return []
            sql = sql.replace("{ids}", ", ".join(["%s"] * len(ids)))
            params = [*ids, *params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        converters = self._converters_for(connection)
        if not converters:
            return [tuple(row) for row in fetched]
        rows = []
        for row in fetched:
            values = list(row)
            for index, col, functions in converters:
                value = values[index]
                for convert in functions:
                    value = convert(value, col, connection)
                values[index] = value
            rows.append(tuple(values))
        return rows

    def dicts(self, params: Sequence[Any] = (), *, ids: Sequence[Any] = (), using="default"):
        """The rows as dicts keyed by column (``"p.first_name"``, or a computed column's key)."""
        rows = self.rows(params, ids=ids, using=using)
        keys = self.keys
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def first(self, params: Sequence[Any] = (), *, using="default") -> dict | None:
        rows = self.dicts(params, using=using)
        return rows[0] if rows else None


class Insert:
    """A hand-written INSERT of one row: ``fields`` of ``model``, values prepared by each
    field as ``save()`` prepares them. Returns the new row's id."""

    def __init__(self, model: type[Model], fields: Sequence[str]):
        self.model = model
        self.field_names = list(fields)

    def row(self, values: Mapping[str, Any], *, using="default") -> int:
        connection = connections[using]
        meta = self.model._meta
        fields = [meta.get_field(name) for name in self.field_names]
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(meta.db_table)}"
            f" ({', '.join(quote(field.column) for field in fields)})"
            f" VALUES ({', '.join(['%s'] * len(fields))})"
        )
        params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
        returning = connection.features.can_return_columns_from_insert
        if returning:
            sql += f" RETURNING {quote(meta.pk.column)}"
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0] if returning else cursor.lastrowid
