from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone

from patients.choices import ActivityKind, AcuityLevel, Gender, MemberRecordStatus


def _in_choices(field: str, choices, *, allow_blank: bool) -> Q:
    values = list(choices.values) + ([""] if allow_blank else [])
    return Q(**{f"{field}__in": values})


class Patient(models.Model):
    """A person the provider serves. ECM patients are those with eligibility information."""

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=10, choices=Gender.choices, blank=True, default="")
    phone = models.CharField(max_length=30, blank=True, default="")
    email = models.EmailField(max_length=254, blank=True, default="")
    street = models.CharField(max_length=200, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    state = models.CharField(max_length=2, blank=True, default="")
    zip_code = models.CharField("zip", max_length=10, blank=True, default="")
    services = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=_in_choices("gender", Gender, allow_blank=True),
                name="patients_patient_gender_valid",
            ),
        ]
        # One index per whitelisted sort, ending in id (the tie-breaker).
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="patient_sort_name"),
            models.Index(fields=["first_name", "id"], name="patient_sort_first_name"),
            models.Index(fields=["last_name", "id"], name="patient_sort_last_name"),
            models.Index(fields=["date_of_birth", "id"], name="patient_sort_dob"),
            models.Index(fields=["created_at", "id"], name="patient_sort_created"),
            models.Index(fields=["updated_at", "id"], name="patient_sort_updated"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def member_id_key() -> Upper:
    """How member ids are compared: two member ids with the same key are the same member."""
    return Upper("member_id")


class EcmEligibilityInformation(models.Model):
    patient = models.OneToOneField(
        Patient, on_delete=models.CASCADE, related_name="ecm_eligibility_information"
    )
    member_id = models.CharField(max_length=50, unique=True)
    cin = models.CharField("CIN", max_length=9, blank=True, default="")
    ecm_service_auth_id = models.CharField(max_length=50, blank=True, default="")
    ecm_provider_name = models.CharField(max_length=200, blank=True, default="")
    ecm_npi = models.CharField("ECM NPI", max_length=10, blank=True, default="")
    ecm_benefit_auth_eff_date = models.DateField(null=True, blank=True)
    ecm_benefit_auth_end_date = models.DateField(null=True, blank=True)
    acuity_level = models.CharField(
        max_length=10, choices=AcuityLevel.choices, blank=True, default=""
    )
    member_record_status = models.CharField(
        max_length=20, choices=MemberRecordStatus.choices, default=MemberRecordStatus.NEW
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "ECM eligibility information"
        verbose_name_plural = "ECM eligibility information"
        constraints = [
            models.CheckConstraint(
                condition=_in_choices("acuity_level", AcuityLevel, allow_blank=True),
                name="patients_eligibility_acuity_valid",
            ),
            models.CheckConstraint(
                condition=_in_choices(
                    "member_record_status", MemberRecordStatus, allow_blank=False
                ),
                name="patients_eligibility_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(ecm_benefit_auth_end_date__isnull=True)
                | Q(ecm_benefit_auth_eff_date__isnull=True)
                | Q(ecm_benefit_auth_end_date__gte=F("ecm_benefit_auth_eff_date")),
                name="patients_eligibility_dates_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(member_id=""), name="patients_eligibility_member_id_present"
            ),
            # One member per member id regardless of case ("demo1" is "DEMO1"). Its index
            # is what lookups by member id read (patients.selectors.eligibility_by_member_key).
            models.UniqueConstraint(
                member_id_key(),
                name="patients_eligibility_member_id_upper_unique",
                violation_error_message="Member ID has already been taken",
            ),
        ]
        # Filters and sorts on eligibility columns, ending in the patient (= the tie-breaker).
        indexes = [
            models.Index(fields=["member_record_status", "patient"], name="elig_status_patient"),
            models.Index(fields=["acuity_level", "patient"], name="elig_acuity_patient"),
            # status and acuity together (an index-only count of the common filter pair)
            models.Index(
                fields=["member_record_status", "acuity_level", "patient"],
                name="elig_status_acuity_patient",
            ),
            models.Index(
                fields=["ecm_benefit_auth_eff_date", "patient"], name="elig_eff_date_patient"
            ),
            models.Index(
                fields=["ecm_benefit_auth_end_date", "patient"], name="elig_end_date_patient"
            ),
        ]

    def __str__(self) -> str:
        return self.member_id


class EcmAuthorization(models.Model):
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="ecm_authorizations"
    )
    auth_no = models.CharField(max_length=50, unique=True)
    auth_type = models.CharField(max_length=20, blank=True, default="")
    authorization_type = models.CharField(max_length=50, blank=True, default="")
    status = models.CharField(max_length=30, blank=True, default="")
    start_date = models.DateField(null=True, blank=True)
    expiration_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_date", "-id"]
        verbose_name = "ECM authorization"
        indexes = [
            models.Index(fields=["patient", "start_date"]),
            # authorization_status filter: status compared case-insensitively.
            models.Index(Upper("status"), F("patient"), name="auth_status_upper_patient"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expiration_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(expiration_date__gte=F("start_date")),
                name="patients_authorization_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.auth_no


class EcmStatusHistory(models.Model):
    """Append-only: one row per change of a member's record status."""

    # No index of its own: (patient, changed_at) serves every lookup by patient.
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="ecm_status_history", db_index=False
    )
    status = models.CharField(max_length=20, choices=MemberRecordStatus.choices)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.CharField(max_length=200)
    changed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = "ECM status history entry"
        verbose_name_plural = "ECM status history"
        indexes = [models.Index(fields=["patient", "changed_at"])]
        constraints = [
            models.CheckConstraint(
                condition=_in_choices("status", MemberRecordStatus, allow_blank=False),
                name="patients_statushistory_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} by {self.changed_by}"


class Activity(models.Model):
    """Append-only activity log of a patient (what changed, by whom, when)."""

    # No index of its own: (patient, created_at) serves every lookup by patient.
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    kind = models.CharField(max_length=30, choices=ActivityKind.choices)
    description = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=200)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["patient", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.actor_name})"


class PatientSearchText(models.Model):
    """PostgreSQL only: one row per ECM patient, kept by triggers (migration 0006).

    ``search_text`` is ``UPPER()`` of "First Last", member_id and CIN joined by
    ``SEARCH_SEPARATOR``, with a trigram index. Never written by the application; on SQLite the
    table does not exist and search reads the patient and eligibility tables.
    """

    SEARCH_SEPARATOR = "\x1f"

    patient_id = models.BigIntegerField(primary_key=True)
    search_text = models.TextField()

    class Meta:
        managed = False
        db_table = "patients_patientsearchtext"

    def __str__(self) -> str:
        return f"search text of patient {self.patient_id}"


class AuthorizationCoverage(models.Model):
    """PostgreSQL only: one row per ECM patient with an approved authorization, kept by
    triggers (``patients/sql/authorization_coverage.sql``, migration 0012).

    ``latest_end`` is the greatest expiration date of the patient's approved authorizations
    (PostgreSQL's ``infinity`` when one of them is open-ended: only compared, never read). The
    table also holds the days they cover, and beside it counts by day that the worklist
    filters alone read (``patients.worklist``). Never written by the application.
    """

    patient_id = models.BigIntegerField(primary_key=True)
    latest_end = models.DateField()

    class Meta:
        managed = False
        db_table = "patients_authorizationcoverage"

    def __str__(self) -> str:
        return f"authorization coverage of patient {self.patient_id}"
