import pytest

from tests import factories

BASE = "/v1/admin/clinic/ecm"
LCMS_URL = f"{BASE}/lead_care_managers"
ASSIGN_URL = f"{BASE}/lead_care_managers/assign"
BULK_URL = f"{BASE}/lead_care_managers/bulk_assign"


def patient_lcms_url(patient_id) -> str:
    return f"{BASE}/patients/{patient_id}/lead_care_managers"


@pytest.fixture
def patient(db):
    return factories.ecm_patient(patient__first_name="John", patient__last_name="Doe")


@pytest.fixture
def jane(db):
    return factories.lcm_user(first_name="Jane", last_name="Coordinator", email="jane@example.org")


@pytest.fixture
def bob(db):
    return factories.lcm_user(first_name="Bob", last_name="Manager", email="bob@example.org")


@pytest.fixture
def dr_smith(db):
    return factories.provider_user(first_name="Dr.", last_name="Smith", email="smith@example.org")
