from django.contrib import admin

from approvals.models import ApprovalRequest


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    """Read-only: approving or declining goes through the queue page, which sends the tasks
    exactly once and tells the member."""

    list_display = ["pk", "project", "requested_by", "estimate", "state", "requested_at"]
    list_filter = ["state", "project"]
    readonly_fields = [f.name for f in ApprovalRequest._meta.fields] + ["tasks"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
