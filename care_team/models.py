from django.conf import settings
from django.db import models
from django.utils import timezone

from care_team.choices import CareTeamRole
from patients.models import Patient


class CaseLoad(models.Model):
    """A patient's care team: primary provider, oLCM and iLCM. One per patient."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="case_load")
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="provider_case_loads",
    )
    # No index of their own: (olcm, patient) and (ilcm, patient) serve every lookup by holder.
    olcm = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="olcm_case_loads",
        verbose_name="oLCM",
        db_index=False,
    )
    ilcm = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ilcm_case_loads",
        verbose_name="iLCM",
        db_index=False,
    )
    provider_assigned_at = models.DateTimeField(null=True, blank=True)
    olcm_assigned_at = models.DateTimeField("oLCM assigned at", null=True, blank=True)
    ilcm_assigned_at = models.DateTimeField("iLCM assigned at", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # Patients for whom a user is both oLCM and iLCM (the LCM list's distinct count).
            models.Index(fields=["olcm", "ilcm"], name="caseload_olcm_ilcm"),
            # A holder's patients in patient order (an LCM's caseload, a page at a time), and
            # their count from the index alone.
            models.Index(fields=["olcm", "patient"], name="caseload_olcm_patient"),
            models.Index(fields=["ilcm", "patient"], name="caseload_ilcm_patient"),
        ]

    def __str__(self) -> str:
        return f"Case load of patient {self.patient_id}"


class LcmAssignmentHistory(models.Model):
    """Append-only: every change of a care-team role (who, from, to, by whom, why, when)."""

    # No index of its own: (patient, created_at) serves every lookup by patient.
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="lcm_assignment_history", db_index=False
    )
    role = models.CharField(max_length=10, choices=CareTeamRole.choices)
    previous_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acted_by_name = models.CharField(max_length=200)
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "LCM assignment history entry"
        verbose_name_plural = "LCM assignment history"
        indexes = [models.Index(fields=["patient", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=CareTeamRole.values),
                name="care_team_history_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.previous_user_id}→{self.new_user_id}"


class LeadCareManagerProfile(models.Model):
    """What planning needs to know of a Lead Care Manager beyond the user: how much work they
    can take (in weighted points; ``None``: ``LCM_DEFAULT_CAPACITY``) and whether they take
    new patients now (``False``: on leave or leaving; never chosen by auto-assign or transfer).
    A user without a row has the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="lead_care_manager_profile",
    )
    capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Weighted points; empty: the default capacity."
    )
    accepting_patients = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user"]
        verbose_name = "Lead Care Manager capacity"
        verbose_name_plural = "Lead Care Manager capacities"

    def __str__(self) -> str:
        return f"Capacity of user {self.user_id}"


class LeadCareManagerWorkload(LeadCareManagerProfile):
    """The Django admin's Workload page (``care_team.admin_workload``): every Lead Care
    Manager's load, capacity and availability. No table of its own; the model gives the page
    its place in the admin and its permissions (``accounts.backends``)."""

    class Meta:
        proxy = True
        verbose_name = "Lead Care Manager workload"
        verbose_name_plural = "Lead Care Manager workload"
