"""The access audit trail (HIPAA 164.312(b)): who touched which patient records, when, how.

Append-only: the application only ever INSERTs. On PostgreSQL a trigger (migration 0002)
refuses UPDATE and DELETE; the Django admin shows the records read-only.

No PHI is stored: no names, no search terms, no request bodies, no raw paths or query
strings; patients appear by id only.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Source(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Django admin"
    # Management commands are recorded as "cmd:<command name>" (free text, not a choice).


CMD_PREFIX = "cmd:"


class Action(models.TextChoices):
    READ_LIST = "read_list", "Read a list"
    READ_DETAIL = "read_detail", "Read one record"
    UPDATE = "update", "Update"
    CREATE = "create", "Create"
    DELETE = "delete", "Delete"
    ASSIGN = "assign", "Assign a care team member"
    UNASSIGN = "unassign", "Remove a care team member"
    BULK_ASSIGN = "bulk_assign", "Bulk assignment"
    IMPORT = "import", "Import"
    SEED = "seed", "Demo data"
    USER_CHANGE = "user_change", "Create or update a user"
    TOKEN_CREATE = "token_create", "Issue a token"
    TOKEN_REVOKE = "token_revoke", "Revoke tokens"
    SIGN_IN = "sign_in", "Sign in"
    SIGN_OUT = "sign_out", "Sign out"
    EXPORT = "export", "Audit export"
    AUTH_FAILED = "auth_failed", "Authentication failed"
    DENIED = "denied", "Access denied"
    RATE_LIMITED = "rate_limited", "Rate limited"


class AccessEvent(models.Model):
    """One audited request, admin view or command run."""

    occurred_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=64, help_text='"api", "admin" or "cmd:<command>"')
    action = models.CharField(max_length=20, choices=Action.choices)
    # The acting user. No database constraint and no cascade: the user_id stays as it was
    # even after the user is deleted (an UPDATE to SET NULL would be refused anyway).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    token_prefix = models.CharField(max_length=20, blank=True, default="")
    method = models.CharField(max_length=10, blank=True, default="")
    route = models.CharField(
        max_length=200, blank=True, default="", help_text="URL pattern, never the raw path"
    )
    status_code = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="HTTP status; for a command its exit status"
    )
    request_id = models.CharField(max_length=64, blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    # Every patient id returned or changed (all the ids on a list page). On PostgreSQL a GIN
    # index (jsonb_path_ops) serves "events about patient N" (`patient_ids @> '[N]'`).
    patient_ids = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["occurred_at", "id"], name="audit_event_time_idx"),
            models.Index(fields=["user", "occurred_at"], name="audit_event_user_time_idx"),
        ]
        verbose_name = "access event"

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.source} {self.action}"
