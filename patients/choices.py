from django.db import models


class AcuityLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


# Severity rank used to sort by acuity (low < medium < high).
ACUITY_RANK = {AcuityLevel.LOW: 1, AcuityLevel.MEDIUM: 2, AcuityLevel.HIGH: 3}


class MemberRecordStatus(models.TextChoices):
    NEW = "new_member", "New member"
    CONTINUING = "continuing_member", "Continuing member"
    PENDING = "pending_member", "Pending member"
    TERMINATED = "terminated_member", "Terminated member"
    INACTIVE = "inactive_member", "Inactive member"


class Gender(models.TextChoices):
    MALE = "male", "Male"
    FEMALE = "female", "Female"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class ActivityKind(models.TextChoices):
    PATIENT_UPDATED = "patient_updated", "Patient updated"
    STATUS_CHANGED = "status_changed", "Member record status changed"
    MEMBER_IMPORTED = "member_imported", "Member imported"
    LCM_ASSIGNED = "lcm_assigned", "Lead Care Manager assigned"
    LCM_REMOVED = "lcm_removed", "Lead Care Manager removed"
    PROVIDER_ASSIGNED = "provider_assigned", "Provider assigned"
    NOTE = "note", "Note"


SYSTEM_IMPORT = "System Import"
