"""Examples of the Lead Care Managers API document, as the OpenAPI document shows them."""

from patients.examples import SEED_LIST_EXAMPLE

SEED_LCM_LIST_EXAMPLE = {
    "lead_care_managers": [
        {
            "id": 101,
            "name": "Jane Coordinator",
            "email": "jane.coordinator@example.com",
            "roles": ["ecm", "coordinator"],
            "assigned_patients_count": 15,
            "olcm_assignments_count": 10,
            "ilcm_assignments_count": 5,
        },
        {
            "id": 102,
            "name": "Bob Manager",
            "email": "bob.manager@example.com",
            "roles": ["ecm", "coordinator"],
            "assigned_patients_count": 20,
            "olcm_assignments_count": 12,
            "ilcm_assignments_count": 8,
        },
    ],
    "pagination": {"current_page": 1, "total_pages": 2, "total_count": 30, "per_page": 25},
}
SEED_ASSIGN_EXAMPLE = {
    "message": "Lead Care Manager assigned successfully",
    "case_load": {
        "id": 789,
        "patient_id": 123,
        "patient_name": "John Doe",
        "provider_id": 456,
        "provider_name": "Dr. Smith",
        "olcm_user_id": 101,
        "olcm_name": "Jane Coordinator",
        "ilcm_user_id": 102,
        "ilcm_name": "Bob Manager",
        "created_at": "2024-11-27T10:00:00.000Z",
        "updated_at": "2024-11-27T10:00:00.000Z",
    },
}
SEED_REMOVE_EXAMPLE = {"message": "Lead Care Manager assignment removed successfully"}
SEED_PATIENT_LCMS_EXAMPLE = {
    "patient_id": 123,
    "patient_name": "John Doe",
    "case_load": {
        "id": 789,
        "provider_id": 456,
        "provider_name": "Dr. Smith",
        "olcm": {
            "user_id": 101,
            "name": "Jane Coordinator",
            "email": "jane.coordinator@example.com",
            "assigned_at": "2024-11-27T10:00:00.000Z",
        },
        "ilcm": {
            "user_id": 102,
            "name": "Bob Manager",
            "email": "bob.manager@example.com",
            "assigned_at": "2024-11-27T10:00:00.000Z",
        },
    },
}
SEED_BULK_EXAMPLE = {
    "message": "Bulk assignment completed",
    "successful_count": 3,
    "failed_count": 0,
    "results": [
        {"patient_id": 123, "status": "success"},
        {"patient_id": 124, "status": "success"},
        {"patient_id": 125, "status": "success"},
    ],
}
SEED_BULK_REQUEST = {
    "assignments": [
        {"patient_id": 123, "olcm_user_id": 101, "ilcm_user_id": 102},
        {"patient_id": 124, "olcm_user_id": 101},
        {"patient_id": 125, "ilcm_user_id": 102},
    ]
}

# ``GET /lead_care_managers/101/patients``: the patient list's item, with the roles held.
CASELOAD_EXAMPLE = {
    "patients": [
        {
            **SEED_LIST_EXAMPLE["patients"][0],
            "roles": ["olcm"],
        }
    ],
    "pagination": {"current_page": 1, "total_pages": 1, "total_count": 1, "per_page": 25},
}
