from collections.abc import Callable, Iterator

import pytest
from django.db import connection

TRIGGER = "test_refuse_patient_insert"


@pytest.fixture
def refuse_patients_named(db) -> Iterator[Callable[[str, str], None]]:
    """``refuse(first_name, message)``: from then on the database itself refuses to insert a
    patient with that first name (a trigger raising ``message``; on PostgreSQL as a
    connection failure, an ``OperationalError``), as a dropped connection or a failing disk
    would stop a write; for every connection, writer threads included."""
    created = False

    def refuse(first_name: str, message: str) -> None:
        nonlocal created
        assert "'" not in first_name + message
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS "
                    f"$$ BEGIN RAISE EXCEPTION USING MESSAGE = '{message}', "
                    "ERRCODE = 'connection_failure'; END $$"
                )
                cursor.execute(
                    f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON patients_patient FOR EACH ROW "
                    f"WHEN (NEW.first_name = '{first_name}') EXECUTE FUNCTION {TRIGGER}()"
                )
            else:
                cursor.execute(
                    f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON patients_patient "
                    f"WHEN NEW.first_name = '{first_name}' "
                    f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
        created = True

    yield refuse
    if created and not connection.in_atomic_block:  # in a test transaction: rolled back
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON patients_patient")
                cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
