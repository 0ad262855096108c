"""Every read of patient records."""

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
    """How many ECM patients there are, without joining patients.

    Every eligibility row belongs to exactly one patient (a non-null one-to-one), so the
    count of eligibility rows is the count of ECM patients, and an index-only scan of one
    table answers it.
    """
    return EcmEligibilityInformation.objects.count()


def patient_rows(ids: list[int]) -> QuerySet[Patient]:
    """The list representation's rows for these patient ids: one query, any page size."""
    return Patient.objects.filter(pk__in=ids).select_related(
        "ecm_eligibility_information", *CASE_LOAD_RELATED
    )


def patient_detail(*, patient_id: int, for_update: bool = False) -> Patient | None:
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
    return queryset.filter(pk=patient_id).first()
