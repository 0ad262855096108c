"""The planning measurements' set-up on a built data set (PostgreSQL), and its undoing."""

import psycopg
import pytest
from django.db import connection

from bench import dataset, planning, restore
from care_team.planning.workload import counted_patients

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SAME_PERSON = "SELECT count(*) FROM care_team_caseload WHERE olcm_id = ilcm_id"
COUNTED = "member_record_status IN ('new_member', 'continuing_member', 'pending_member')"


def _url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgresql://{db['USER']}{password}@{host}/{db['NAME']}"


def _state(conn) -> tuple:
    case_loads = conn.execute(
        "SELECT id, patient_id, olcm_id, ilcm_id, olcm_assigned_at FROM care_team_caseload"
        " ORDER BY id"
    ).fetchall()
    profiles = conn.execute(
        "SELECT user_id, capacity FROM care_team_leadcaremanagerprofile ORDER BY user_id"
    ).fetchall()
    return case_loads, profiles


def test_set_up_leaves_exactly_the_chosen_patients_waiting_and_restore_undoes_it():
    connection.close()
    url = _url()
    dataset.build(url, 300, log=lambda _: None)
    with psycopg.connect(url) as conn:
        built = _state(conn)
        both_before = conn.execute(SAME_PERSON).fetchone()[0]
    restore.snapshot_before_writes(url)

    summary = planning.set_up(url, fill=20, extra=5, seed=3)

    with psycopg.connect(url) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM patients_ecmeligibilityinformation e"
            " LEFT JOIN care_team_caseload c ON c.patient_id = e.patient_id"
            f" WHERE e.{COUNTED} AND c.olcm_id IS NULL"
        ).fetchone()[0]
        capacities = conn.execute(
            "SELECT DISTINCT capacity FROM care_team_leadcaremanagerprofile"
        ).fetchall()
        both = conn.execute(SAME_PERSON).fetchone()[0]
    assert waiting == 25
    assert len(capacities) == 1 and capacities[0][0] > 0
    assert both == both_before  # the oLCMs given are never the patient's iLCM
    assert "25 cleared" in summary
    assert counted_patients() == counted_patients(stored=False)

    restore.restore_after_writes(url)
    with psycopg.connect(url) as conn:
        assert _state(conn) == built
    assert counted_patients() == counted_patients(stored=False)


def test_fill_size_is_at_most_one_patient_in_ten():
    assert planning.fill_size(100_000, 1_000_000) == 100_000
    assert planning.fill_size(100_000, 100_000) == 10_000
    assert planning.fill_size(100_000, 5) == 1


def test_set_up_transfer_gives_one_lcm_the_caseload_and_restore_undoes_it():
    connection.close()
    url = _url()
    dataset.build(url, 300, log=lambda _: None)
    dual = "SELECT count(*) FROM care_team_caseload WHERE olcm_id = %s AND ilcm_id = %s"
    with psycopg.connect(url) as conn:
        built = _state(conn)
        first = conn.execute(
            "SELECT min(ur.user_id) FROM accounts_userrole ur JOIN accounts_role r"
            " ON r.id = ur.role_id JOIN accounts_user u ON u.id = ur.user_id"
            " WHERE r.name = 'ecm' AND u.is_active"
        ).fetchone()[0]
        both_before = conn.execute(dual, (first, first)).fetchone()[0]
    restore.snapshot_before_writes(url)

    email, moves, summary = planning.set_up_transfer(url, 40, seed=3)

    with psycopg.connect(url) as conn:
        source = conn.execute("SELECT id FROM accounts_user WHERE email = %s", (email,)).fetchone()
        held = conn.execute(
            "SELECT count(*) FROM care_team_caseload WHERE olcm_id = %s", source
        ).fetchone()[0]
        room = conn.execute(
            "SELECT count(*) FROM care_team_leadcaremanagerprofile WHERE accepting_patients"
            " AND user_id <> %s",
            source,
        ).fetchone()[0]
        both = conn.execute(dual, (first, first)).fetchone()[0]
    assert source == (first,)
    assert moves == held >= 40
    assert room > 0
    assert both == both_before  # the LCM is never given a patient whose iLCM they are
    assert f"holds {moves:,} patients as oLCM" in summary
    assert counted_patients() == counted_patients(stored=False)

    restore.restore_after_writes(url)
    with psycopg.connect(url) as conn:
        assert _state(conn) == built
    assert counted_patients() == counted_patients(stored=False)


def test_transfer_size_is_at_most_one_patient_in_twenty():
    assert planning.transfer_size(1_000_000) == 5_000
    assert planning.transfer_size(20_000) == 1_000
    assert planning.transfer_size(5) == 1
