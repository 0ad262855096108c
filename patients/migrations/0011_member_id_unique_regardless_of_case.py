"""A member id belongs to one member regardless of case: a unique index on UPPER(member_id).

Before it is built, the rows are checked for member ids that differ only in case
("demo000000001" beside "DEMO000000001"); if there are any, the migration stops with a list
of them (member ids, eligibility and patient ids) and how to fix them, instead of a database
error naming one value. Nothing is changed until they are fixed and ``migrate`` runs again.

The index is also what lookups by member id read (``UPPER(member_id) = ANY(...)``), on
PostgreSQL and on SQLite. PostgreSQL keeps statistics of an index's expression only once the
table is analysed, and plans such lookups as scans of the whole table until then: the
migration analyses the table after building the index.
"""

from django.core.management.base import CommandError
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Upper

SHOWN_CLASHES = 50


def clash_report(eligibility_model) -> str | None:
    """The member ids taken by several members in different case, as a message; or None."""
    keyed = eligibility_model.objects.annotate(member_key=Upper("member_id"))
    clashing = (
        keyed.values("member_key")
        .annotate(members=Count("id"))
        .filter(members__gt=1)
        .order_by("member_key")
        .values_list("member_key", flat=True)
    )
    keys = list(clashing[: SHOWN_CLASHES + 1])
    if not keys:
        return None
    rows = keyed.filter(member_key__in=keys[:SHOWN_CLASHES]).order_by("member_key", "id")
    by_key: dict[str, list[str]] = {}
    for key, pk, member_id, patient_id in rows.values_list(
        "member_key", "id", "member_id", "patient_id"
    ):
        by_key.setdefault(key, []).append(
            f"{member_id!r} (eligibility {pk}, patient {patient_id})"
        )
    lines = [f"  {', '.join(members)}" for members in by_key.values()]
    if len(keys) > SHOWN_CLASHES:
        lines.append(f"  ... and more (the first {SHOWN_CLASHES} are shown)")
    return (
        "Cannot make member ids unique regardless of case: these member ids differ only in "
        "case and belong to different members:\n"
        + "\n".join(lines)
        + "\nGive each member its own member id, or merge the duplicate members (the Django "
        "admin or PUT /patients/{id} can change a member id), then run migrate again."
    )


def refuse_clashes(apps, schema_editor):
    report = clash_report(apps.get_model("patients", "EcmEligibilityInformation"))
    if report is not None:
        raise CommandError(report)


def analyze(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ANALYZE patients_ecmeligibilityinformation")


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0010_acuity_sort_indexes"),
    ]

    operations = [
        migrations.RunPython(refuse_clashes, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="ecmeligibilityinformation",
            constraint=models.UniqueConstraint(
                Upper("member_id"),
                name="patients_eligibility_member_id_upper_unique",
                violation_error_message="Member ID has already been taken",
            ),
        ),
        migrations.RunPython(analyze, migrations.RunPython.noop, elidable=False),
    ]
