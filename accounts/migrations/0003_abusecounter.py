from django.db import migrations, models


def unlogged(apps, schema_editor):
    """PostgreSQL: the counters skip the write-ahead log. A commit that wrote only counters (a
    request's rate hit) then waits for no disk flush, and a crash only empties the table, which
    forgets counts and nothing else. The ``LIKE`` index Django adds to a text primary key is
    dropped: keys are only ever compared whole."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'accounts_abusecounter'"
            " AND indexname LIKE '%%\\_like'"
        )
        for (name,) in cursor.fetchall():
            schema_editor.execute(f'DROP INDEX "{name}"')
    schema_editor.execute("ALTER TABLE accounts_abusecounter SET UNLOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_apitoken_kind_idle_timeout"),
    ]

    operations = [
        migrations.CreateModel(
            name="AbuseCounter",
            fields=[
                ("key", models.CharField(max_length=100, primary_key=True, serialize=False)),
                ("hits", models.IntegerField()),
                ("window_end", models.FloatField(db_index=True)),
            ],
            options={
                "ordering": ["key"],
            },
        ),
        migrations.RunPython(unlogged, migrations.RunPython.noop, elidable=False),
    ]
