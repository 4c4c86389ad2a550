"""The admin for every jobs table. Remote state (statuses, ids, costs, outputs) is written by the
poller only, so those fields are read-only here; the work-item actions are the operator's
levers (run now, give up)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from jobs.models import (
    ApiHealth,
    Asset,
    Output,
    PollerHeartbeat,
    Preset,
    RemoteModel,
    RequestBudget,
    Target,
    Task,
    WebhookDelivery,
    WorkItem,
)


@admin.register(WorkItem)
class WorkItemAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "key",
        "state",
        "attempts",
        "next_attempt_at",
        "lease_owner",
        "lease_expires_at",
        "short_error",
        "updated_at",
    ]
    list_filter = ["state", "kind"]
    search_fields = ["key", "last_error", "lease_owner"]
    ordering = ["next_attempt_at", "id"]
    date_hierarchy = "created_at"
    raw_id_fields = ["asset", "task", "output"]
    readonly_fields = [
        "kind",
        "key",
        "asset",
        "task",
        "output",
        "lease_owner",
        "lease_expires_at",
        "lease_token",
        "wake_at",
        "created_at",
        "updated_at",
        "finished_at",
    ]
    actions = ["run_now", "give_up"]

    @admin.display(description="Last error")
    def short_error(self, item: WorkItem) -> str:
        return item.last_error[:120]

    @admin.action(description="Run now (waiting or failed items; never a task submission)")
    def run_now(self, request: HttpRequest, queryset: QuerySet[WorkItem]) -> None:
        now = timezone.now()
        waiting = queryset.filter(state__in=[WorkItem.State.READY, WorkItem.State.UNKNOWN]).update(
            next_attempt_at=now
        )
        rearmed = (
            queryset.filter(state=WorkItem.State.FAILED)
            .exclude(kind=WorkItem.Kind.TASK_SUBMIT)
            .update(state=WorkItem.State.READY, next_attempt_at=now, attempts=0, finished_at=None)
        )
        self.message_user(request, f"{waiting} made due now, {rearmed} failed item(s) armed again.")

    @admin.action(description="Give up (mark failed; leased items are left to their poller)")
    def give_up(self, request: HttpRequest, queryset: QuerySet[WorkItem]) -> None:
        count = queryset.filter(state__in=[WorkItem.State.READY, WorkItem.State.UNKNOWN]).update(
            state=WorkItem.State.FAILED,
            finished_at=timezone.now(),
            last_error="Given up by an administrator",
        )
        self.message_user(request, f"{count} item(s) marked failed.", messages.WARNING)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["received_at", "remote_task_id", "task", "outcome", "remote_addr"]
    list_filter = ["outcome"]
    search_fields = ["remote_task_id"]
    date_hierarchy = "received_at"
    list_select_related = ["task"]
    readonly_fields = ["received_at", "remote_task_id", "task", "body", "outcome", "remote_addr"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(PollerHeartbeat)
class PollerHeartbeatAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "hostname",
        "pid",
        "started_at",
        "last_seen_at",
        "current",
        "stopped_at",
    ]
    readonly_fields = list_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ApiHealth)
class ApiHealthAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "degraded_since",
        "consecutive_failures",
        "paused_until",
        "last_ok_at",
        "last_error",
    ]
    readonly_fields = ["degraded_since", "last_ok_at", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RequestBudget)
class RequestBudgetAdmin(admin.ModelAdmin):
    list_display = ["id", "next_slot"]
    readonly_fields = ["next_slot"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class TargetInline(admin.TabularInline):
    model = Target
    extra = 0
    can_delete = False
    fields = [
        "position",
        "model",
        "variant",
        "formats",
        "status",
        "remote_id",
        "error_code",
        "error_message",
        "duration_seconds",
        "minutes_billed",
        "estimated_cost",
        "cost",
        "completed_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class WorkItemInline(admin.TabularInline):
    model = WorkItem
    fk_name = "task"
    extra = 0
    can_delete = False
    fields = ["kind", "state", "attempts", "next_attempt_at", "lease_owner", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "source_name",
        "project",
        "created_by",
        "submission_state",
        "remote_id",
        "estimated_cost",
        "remote_cost",
        "created_at",
        "completed_at",
    ]
    list_filter = ["submission_state", "project"]
    search_fields = ["remote_id", "source_name", "form_token", "metadata"]
    date_hierarchy = "created_at"
    list_select_related = ["project", "created_by"]
    raw_id_fields = ["source_asset", "rerun_of", "created_by", "budget_override_by"]
    readonly_fields = [
        "form_token",
        "submission_state",
        "submission_error",
        "remote_id",
        "remote_created_at",
        "submit_started_at",
        "completed_at",
        "remote_cost",
        "estimated_cost",
        "raw",
        "last_refreshed_at",
        "created_at",
        "updated_at",
    ]
    inlines = [TargetInline, WorkItemInline]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "project",
        "uploaded_by",
        "format",
        "size_bytes",
        "remote_status",
        "remote_id",
        "remote_expires_at",
        "created_at",
    ]
    list_filter = ["remote_status", "format", "project"]
    search_fields = ["name", "original_filename", "remote_id", "sha256"]
    date_hierarchy = "created_at"
    list_select_related = ["project", "uploaded_by"]
    raw_id_fields = ["uploaded_by"]
    readonly_fields = [
        "uuid",
        "sha256",
        "remote_id",
        "remote_status",
        "remote_error",
        "remote_uploaded_at",
        "remote_expires_at",
        "created_at",
        "updated_at",
    ]
    exclude = ["peaks"]


@admin.register(Output)
class OutputAdmin(admin.ModelAdmin):
    list_display = ["id", "target", "name", "format", "mirror_state", "size_bytes", "mirrored_at"]
    list_filter = ["mirror_state", "format"]
    search_fields = ["name", "target__remote_id", "target__task__remote_id"]
    list_select_related = ["target"]
    raw_id_fields = ["target"]
    # The signed link is a credential for an hour: never shown, not even here.
    exclude = ["remote_link"]
    readonly_fields = [
        "file",
        "size_bytes",
        "mirror_state",
        "mirror_error",
        "mirrored_at",
        "link_seen_at",
    ]


@admin.register(RemoteModel)
class RemoteModelAdmin(admin.ModelAdmin):
    list_display = [
        "key",
        "name",
        "category",
        "access",
        "credits_per_minute",
        "position",
        "synced_at",
    ]
    list_filter = ["category", "access"]
    search_fields = ["key", "name"]
    ordering = ["category", "position", "key"]


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "created_at"]
    search_fields = ["name"]
    raw_id_fields = ["created_by"]
