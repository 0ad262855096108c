"""Every read of patient records."""

from django.db.models import QuerySet

from patients.models import Patient


def ecm_patients() -> QuerySet[Patient]:
    """Patients that are ECM patients (have eligibility information)."""
    return Patient.objects.filter(ecm_eligibility_information__isnull=False)
