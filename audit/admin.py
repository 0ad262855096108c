"""The access audit trail in the Django admin: viewable and searchable, never changed."""

from django.contrib import admin

from audit.models import AccessEvent
from ecm_admin.admin_site import ReadOnlyAdminMixin


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "source",
        "action",
        "user_id",
        "token_prefix",
        "method",
        "route",
        "status_code",
        "client_ip",
        "patient_count",
    )
    list_filter = ("source", "action", "status_code")
    search_fields = ("=request_id", "=token_prefix", "=user_id", "route")
    date_hierarchy = "occurred_at"
    fields = (
        "occurred_at",
        "source",
        "action",
        "user_id",
        "token_prefix",
        "method",
        "route",
        "status_code",
        "request_id",
        "client_ip",
        "patient_ids",
    )
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="patients")
    def patient_count(self, obj):
        return len(obj.patient_ids or [])
