"""The application tables the data set fills, and the columns it writes in each."""

# Children first. TRUNCATE ... CASCADE also empties tables added later that reference these.
APP_TABLES = (
    "care_team_lcmassignmenthistory",
    "care_team_caseload",
    "patients_activity",
    "patients_ecmstatushistory",
    "patients_ecmauthorization",
    "patients_ecmeligibilityinformation",
    "patients_patient",
    "accounts_apitoken",
    "accounts_userrole",
    "accounts_role",
    "accounts_user",
)

# Kept by PostgreSQL triggers from the app tables (patients migrations 0006, 0009, 0012;
# care_team 0007): the search table, the counts per 3-character term, and the stored count of
# ECM patients (one row), rewritten by ``patients_search_rebuild``; the counted patients per
# Lead Care Manager, role and acuity, rewritten by ``care_team_workload_rebuild``; the latest
# approved authorization end and coverage per ECM patient and their counts by day, rewritten by
# ``patients_authorization_coverage_rebuild``.
DERIVED_TABLES = (
    "patients_patientsearchtext",
    "patients_searchgramcount",
    "care_team_workloadcount",
    "patients_authorizationcoverage",
    "patients_authorizationdaycount",
)

COLUMNS = {
    "accounts_user": (
        "id", "password", "last_login", "is_superuser", "email", "first_name", "last_name",
        "is_active", "is_staff", "created_at", "updated_at",
    ),
    "accounts_role": ("id", "name", "description"),
    "accounts_userrole": ("id", "user_id", "role_id"),
    "patients_patient": (
        "id", "first_name", "last_name", "date_of_birth", "gender", "phone", "email", "street",
        "city", "state", "zip_code", "services", "created_at", "updated_at",
    ),
    "patients_ecmeligibilityinformation": (
        "id", "patient_id", "member_id", "cin", "ecm_service_auth_id", "ecm_provider_name",
        "ecm_npi", "ecm_benefit_auth_eff_date", "ecm_benefit_auth_end_date", "acuity_level",
        "member_record_status", "created_at", "updated_at",
    ),
    "patients_ecmauthorization": (
        "patient_id", "auth_no", "auth_type", "authorization_type", "status",
        "start_date", "expiration_date", "created_at", "updated_at",
    ),
    "patients_ecmstatushistory": (
        "patient_id", "status", "changed_at", "changed_by", "changed_by_user_id",
    ),
    "patients_activity": (
        "patient_id", "kind", "description", "actor_id", "actor_name", "metadata",
        "created_at",
    ),
    "care_team_caseload": (
        "id", "patient_id", "provider_id", "olcm_id", "ilcm_id", "provider_assigned_at",
        "olcm_assigned_at", "ilcm_assigned_at", "created_at", "updated_at",
    ),
    "care_team_lcmassignmenthistory": (
        "patient_id", "role", "previous_user_id", "new_user_id",
        "acted_by_id", "acted_by_name", "reason", "created_at",
    ),
}  # fmt: skip
# Tables written per chunk of patients, in this order.
CHUNK_TABLES = (
    "patients_patient",
    "patients_ecmeligibilityinformation",
    "patients_ecmauthorization",
    "patients_ecmstatushistory",
    "patients_activity",
    "care_team_caseload",
    "care_team_lcmassignmenthistory",
)
