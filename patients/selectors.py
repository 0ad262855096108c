"""Every read of patient records."""

from django.db import connection
from django.db.models import Count, IntegerField, Max, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from patients.models import (
    Activity,
    EcmAuthorization,
    EcmEligibilityInformation,
    EcmStatusHistory,
    Patient,
)

# The care team is rendered with every patient: provider, oLCM and iLCM names.
CASE_LOAD_RELATED = ("case_load__provider", "case_load__olcm", "case_load__ilcm")


def ecm_patients() -> QuerySet[Patient]:
    """Patients that are ECM patients (have eligibility information)."""
    return Patient.objects.filter(ecm_eligibility_information__isnull=False)


def ecm_patient_count() -> int:
    """How many ECM patients there are: exact, and O(1) on PostgreSQL.

    Every eligibility row belongs to exactly one patient (a non-null one-to-one), so the
    count of eligibility rows is the count of ECM patients. On PostgreSQL triggers keep that
    number in ``patients_ecmpatientcount`` in the same transaction as the rows (migration
    0006); elsewhere the eligibility rows are counted.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT total FROM patients_ecmpatientcount WHERE id = 1")
            row = cursor.fetchone()
        if row is not None:
            return row[0]
    return EcmEligibilityInformation.objects.count()


# The columns the list representation renders (``serializers.patient_list_item``): loading
# only these keeps a page from decoding a dozen unused timestamps per row.
LIST_COLUMNS = (
    "first_name",
    "last_name",
    "date_of_birth",
    *(
        f"ecm_eligibility_information__{name}"
        for name in (
            "member_id",
            "cin",
            "ecm_service_auth_id",
            "ecm_provider_name",
            "ecm_benefit_auth_eff_date",
            "ecm_benefit_auth_end_date",
            "acuity_level",
            "member_record_status",
        )
    ),
    "case_load__provider_id",
    "case_load__olcm_id",
    "case_load__ilcm_id",
    *(
        f"{related}__{name}"
        for related in CASE_LOAD_RELATED
        for name in ("first_name", "last_name")
    ),
)


def patient_rows(ids: list[int]) -> QuerySet[Patient]:
    """The list representation's rows for these patient ids: one query, any page size."""
    return (
        Patient.objects.filter(pk__in=ids)
        .select_related("ecm_eligibility_information", *CASE_LOAD_RELATED)
        .only(*LIST_COLUMNS)
    )


def patient_detail(*, patient_id: int) -> Patient | None:
    """One ECM patient with everything the detail representation shows (three queries)."""
    activities = Activity.objects.filter(patient_id=OuterRef("pk")).order_by()
    queryset = (
        ecm_patients()
        .select_related("ecm_eligibility_information", *CASE_LOAD_RELATED)
        .annotate(
            activities_count=Coalesce(
                Subquery(
                    activities.values("patient_id").annotate(n=Count("id")).values("n"),
                    output_field=IntegerField(),
                ),
                0,
            ),
            last_activity_at=Subquery(
                activities.values("patient_id").annotate(at=Max("created_at")).values("at")
            ),
        )
        .prefetch_related(
            Prefetch(
                "ecm_authorizations",
                queryset=EcmAuthorization.objects.order_by("-start_date", "-id"),
            ),
            Prefetch(
                "ecm_status_history",
                queryset=EcmStatusHistory.objects.order_by("-changed_at", "-id"),
            ),
        )
    )
    return next(iter(queryset.filter(pk=patient_id).order_by()[:1]), None)
