from django.db import migrations, models

# On PostgreSQL the counters skip the write-ahead log (UNLOGGED): a commit that wrote only
# counters (a request's rate count) waits for no disk flush, and a crash only empties the
# table, which forgets counts and nothing else. Keys are only ever compared whole, so the
# primary key needs no second (LIKE) index; the window_end index serves the clean-up DELETE.
COLUMNS = '"key" varchar(100) NOT NULL PRIMARY KEY, hits integer NOT NULL, window_end {real} NOT NULL'


def create_table(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    unlogged = "UNLOGGED " if postgresql else ""
    real = "double precision" if postgresql else "real"
    schema_editor.execute(
        f"CREATE {unlogged}TABLE accounts_abusecounter ({COLUMNS.format(real=real)})"
    )
    schema_editor.execute(
        "CREATE INDEX accounts_abusecounter_window_end ON accounts_abusecounter (window_end)"
    )


def drop_table(apps, schema_editor):
    schema_editor.execute("DROP TABLE accounts_abusecounter")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_apitoken_kind_idle_timeout"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AbuseCounter",
                    fields=[
                        (
                            "key",
                            models.CharField(max_length=100, primary_key=True, serialize=False),
                        ),
                        ("hits", models.IntegerField()),
                        ("window_end", models.FloatField(db_index=True)),
                    ],
                    options={
                        "ordering": ["key"],
                    },
                ),
            ],
            database_operations=[
                migrations.RunPython(create_table, drop_table, elidable=False),
            ],
        ),
    ]
