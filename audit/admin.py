"""The audit log in Django's admin: read-only (no add, change or delete, bulk delete included).
The team's page with filters and the CSV export is `/audit/` (audit/views.py)."""

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "action", "object_type", "object_id", "ip", "via")
    list_filter = ("action", "via")
    search_fields = ("actor_name", "object_label", "object_id")
    date_hierarchy = "at"
    show_full_result_count = False  # no COUNT(*) over the whole log

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
