"""Examples of the ECM Patients API document, as the OpenAPI document shows them."""

SEED_LIST_EXAMPLE = {
    "patients": [
        {
            "id": 123,
            "name": "John Doe",
            "date_of_birth": "2010-05-15",
            "ecm_eligibility_information": {
                "id": 456,
                "member_id": "MEM0000000001",
                "cin": "CIN123456",
                "ecm_service_auth_id": "AUTH123456",
                "ecm_provider_name": "Esteem Health PSC",
                "ecm_benefit_auth_eff_date": "2024-01-01",
                "ecm_benefit_auth_end_date": "2024-12-31",
                "acuity_level": "high",
                "member_record_status": "new_member",
            },
            "case_load": {
                "provider_id": 789,
                "provider_name": "Dr. Smith",
                "olcm_user_id": 101,
                "olcm_name": "Jane Coordinator",
                "ilcm_user_id": 102,
                "ilcm_name": "Bob Manager",
            },
        }
    ],
    "pagination": {"current_page": 1, "total_pages": 5, "total_count": 120, "per_page": 25},
}
SEED_DETAIL_EXAMPLE = {
    "patient": {
        "id": 123,
        "name": "John Doe",
        "first_name": "John",
        "last_name": "Doe",
        "date_of_birth": "2010-05-15",
        "gender": "male",
        "address": {"street": "123 Main St", "city": "Los Angeles", "state": "CA", "zip": "90001"},
        "phone": "+18051234567",
        "email": "john.doe@example.com",
        "services": ["ecm", "clinical"],
        "ecm_eligibility_information": {
            "id": 456,
            "member_id": "MEM0000000001",
            "cin": "CIN123456",
            "ecm_service_auth_id": "AUTH123456",
            "ecm_provider_name": "Esteem Health PSC",
            "ecm_npi": "1234567890",
            "ecm_benefit_auth_eff_date": "2024-01-01",
            "ecm_benefit_auth_end_date": "2024-12-31",
            "acuity_level": "high",
            "member_record_status": "new_member",
            "created_at": "2024-01-15T10:00:00.000Z",
            "updated_at": "2024-01-15T10:00:00.000Z",
        },
        "case_load": {
            "id": 789,
            "provider_id": 101,
            "provider_name": "Dr. Smith",
            "olcm_user_id": 102,
            "olcm_name": "Jane Coordinator",
            "ilcm_user_id": 103,
            "ilcm_name": "Bob Manager",
        },
        "ecm_authorizations": [
            {
                "id": 1,
                "auth_no": "AUTH0000000001",
                "auth_type": "ES",
                "authorization_type": "Form I",
                "status": "Approved",
                "start_date": "2024-01-01",
                "expiration_date": "2024-12-31",
            }
        ],
        "ecm_status_history": [
            {
                "id": 1,
                "status": "new_member",
                "changed_at": "2024-01-15T10:00:00.000Z",
                "changed_by": "System Import",
            }
        ],
        "activities_count": 15,
        "last_activity_at": "2024-11-20T14:30:00.000Z",
    }
}
SEED_UPDATE_REQUEST = {
    "patient": {
        "ecm_eligibility_information": {
            "acuity_level": "high",
            "member_record_status": "continuing_member",
        }
    }
}
SEED_FILTER_REQUEST = {
    "search": "John",
    "filters": {"status": "new_member", "acuity_level": "high", "provider_id": 101},
    "sort_by": "created_at",
    "sort_dir": "DESC",
    "page": 1,
    "per_page": 25,
}
