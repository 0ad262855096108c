"""Database helpers shared by the set-based writers."""

from collections.abc import Sequence

from django.db import models


def bulk_update_rows(objs: Sequence[models.Model], fields: list[str]) -> None:
    """Write ``fields`` of rows that already exist (and that the caller has locked).

    One ``INSERT ... ON CONFLICT (id) DO UPDATE`` per batch: every row conflicts on its id, so
    each is updated and none inserted. This costs what ``bulk_create`` costs, whereas
    ``QuerySet.bulk_update`` builds CASE expressions whose cost grows with rows x columns
    (seconds for a thousand rows).
    """
    if objs:
        type(objs[0]).objects.bulk_create(
            objs, update_conflicts=True, unique_fields=["id"], update_fields=fields
        )
