"""The Django admin in a real browser: headless Chromium driven by Playwright.

Uses Debian's Chromium (``apt-get install chromium``) through Playwright for Python's own
driver; no browser is downloaded. Skipped, saying why, when either is missing.
"""

import contextlib
import importlib.util
from pathlib import Path

import pytest
from django.db import connection

from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from patients.choices import ActivityKind, AcuityLevel
from patients.models import Activity, EcmEligibilityInformation
from tests import factories
from tests.admin import PASSWORD, create_staff

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 20_000
MEMBER_ID = "MEM-BROWSER-1"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chromium():
    if connection.vendor == "sqlite":
        # The live server's request threads would share the test's one in-memory SQLite
        # connection, which is not safe under the browser's parallel requests (it can hang).
        pytest.skip("needs PostgreSQL: the live server cannot share in-memory SQLite safely")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright for Python is not installed: pip install playwright")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not installed at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    @contextlib.contextmanager
    def open_page():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                yield page
            finally:
                browser.close()

    return open_page


def test_edit_a_patient_and_assign_an_olcm_in_the_browser(chromium, live_server):
    # Made the documented way: create_user --roles admin --staff --password-from-env (no
    # superuser): what the admin role may do is enough for all of this.
    staff = create_staff(email="browser.staff@example.org", first_name="Bea", last_name="Browser")
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
    patient = factories.ecm_patient(
        member_id=MEMBER_ID,
        acuity_level=AcuityLevel.LOW,
        patient__first_name="John",
        patient__last_name="Doe",
    )
    factories.ecm_patient(patient__first_name="Mary", patient__last_name="Major")

    # The browser talks to the live server only: no database access from here until it closes.
    with chromium() as page:
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", staff.email)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name >> text=ECM Admin")
        assert page.locator("a[href='/admin/patients/patient/']").count() >= 1
        assert page.locator("a[href^='/admin/accounts/']").count() == 0

        page.goto(f"{live_server.url}/admin/patients/patient/")
        page.fill("#searchbar", MEMBER_ID)
        page.press("#searchbar", "Enter")
        page.wait_for_selector("#result_list")
        assert page.locator("#result_list tbody tr").count() == 1
        page.click(f"#result_list a:text-is('{MEMBER_ID}')")

        page.select_option("#id_ecm_eligibility_information-0-acuity_level", AcuityLevel.HIGH)
        page.click("input[name=_save]")
        page.wait_for_selector(".messagelist .success")
        assert "was changed successfully" in page.inner_text(".messagelist")

        page.check(f"input[name=_selected_action][value='{patient.pk}']")
        page.select_option("select[name=action]", "assign_olcm")
        page.click("button[name=index]")
        page.wait_for_selector("#lcm-action-form")
        assert "John Doe" in page.inner_text("#selected-patients")

        page.click("#lcm-action-form .select2-selection")
        page.fill(".select2-search__field", "Jane")
        page.click(".select2-results__option >> text=Jane Coordinator")
        page.fill("#id_reason", "Chosen in the browser")
        page.click("input[name=apply]")
        page.wait_for_selector(".messagelist .success")
        message = page.inner_text(".messagelist")
    assert "Assigned Jane Coordinator as oLCM to 1 patient." in message

    eligibility = EcmEligibilityInformation.objects.get(patient=patient)
    assert eligibility.acuity_level == AcuityLevel.HIGH
    assert CaseLoad.objects.get(patient=patient).olcm == jane
    (entry,) = LcmAssignmentHistory.objects.filter(patient=patient)
    assert (entry.role, entry.new_user, entry.acted_by) == ("olcm", jane, staff)
    assert entry.reason == "Chosen in the browser"
    kinds = sorted(Activity.objects.filter(patient=patient).values_list("kind", flat=True))
    assert kinds == sorted([ActivityKind.LCM_ASSIGNED, ActivityKind.PATIENT_UPDATED])


def test_workload_capacity_and_auto_assign_preview_then_confirm_in_the_browser(
    chromium, live_server
):
    staff = create_staff(email="browser.staff@example.org", first_name="Bea", last_name="Browser")
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
    bob = factories.lcm_user(first_name="Bob", last_name="Manager")
    john = factories.ecm_patient(
        acuity_level=AcuityLevel.HIGH, patient__first_name="John", patient__last_name="Doe"
    )
    mary = factories.ecm_patient(
        acuity_level=AcuityLevel.LOW, patient__first_name="Mary", patient__last_name="Major"
    )

    with chromium() as page:
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", staff.email)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name >> text=ECM Admin")

        # The Workload page, from the index: Bob's capacity set to 10.
        page.click("#content-main a:text-is('Lead Care Manager workload')")
        page.wait_for_selector("#workload")
        assert "Jane Coordinator" in page.inner_text(f"#lcm-{jane.pk}")
        page.fill(f"#lcm-{bob.pk} input.lcm-capacity", "10")
        page.click("input[name=_save]")
        page.wait_for_selector(".messagelist .success")
        assert "Saved Bob Manager (capacity 10)." in page.inner_text(".messagelist")
        assert page.input_value(f"#lcm-{bob.pk} input.lcm-capacity") == "10"
        assert page.inner_text(f"#lcm-{bob.pk} .available").strip() == "10"

        # Auto-assign both patients: the preview, then "Confirm".
        page.click("#nav-sidebar a:text-is('Patients')")
        page.wait_for_selector("#result_list")
        for patient in (john, mary):
            page.check(f"input[name=_selected_action][value='{patient.pk}']")
        page.select_option("select[name=action]", "assign_lcms_automatically")
        page.click("button[name=index]")
        page.wait_for_selector("#auto-assign-form")
        shown = [
            tuple(cell.strip() for cell in row.split("\t")[:5])
            for row in page.locator("#plan-moves tbody tr").all_inner_texts()
        ]
        assert "Bob Manager" in page.inner_text("#plan-lcms")
        page.fill("#id_reason", "Filled in the browser")
        page.click("input[name=confirm]")
        page.wait_for_selector(".messagelist .success")
        message = page.inner_text(".messagelist")
    assert "Auto-assigned 4 moves for 2 patients." in message

    assert LeadCareManagerProfile.objects.get(user=bob).capacity == 10
    names = {jane.pk: "Jane Coordinator", bob.pk: "Bob Manager"}
    written = []
    for patient in (john, mary):
        case_load = CaseLoad.objects.get(patient=patient)
        assert case_load.olcm_id != case_load.ilcm_id
        for role, label in (("olcm", "oLCM"), ("ilcm", "iLCM")):
            holder = names[getattr(case_load, f"{role}_id")]
            written.append((patient.name, label, holder))
    assert sorted(written) == sorted((row[0], row[2], row[4]) for row in shown)
    history = LcmAssignmentHistory.objects.filter(patient__in=[john, mary])
    assert history.count() == 4
    assert {(entry.reason, entry.acted_by_id) for entry in history} == {
        ("Filled in the browser", staff.pk)
    }
