"""Read-only admin views of the sandbox's rows (they change through the API and the worker)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from sandbox.models import (
    FaultConfig,
    ReceivedWebhook,
    RequestLog,
    SandboxAsset,
    SandboxOutput,
    SandboxTarget,
    SandboxTask,
    WebhookAttempt,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SandboxAsset)
class SandboxAssetAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "format", "size", "created_at", "expires_at"]
    search_fields = ["id", "name"]


class SandboxTargetInline(admin.TabularInline):
    model = SandboxTarget
    fields = ["model", "variant", "formats", "status", "duration", "cost", "error_message"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SandboxTask)
class SandboxTaskAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "completed_at", "asset_ref", "url", "cost"]
    search_fields = ["id", "asset_ref", "metadata"]
    inlines = [SandboxTargetInline]


@admin.register(SandboxTarget)
class SandboxTargetAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "model", "variant", "status", "duration", "cost", "ready_at"]
    list_filter = ["status", "model"]


@admin.register(SandboxOutput)
class SandboxOutputAdmin(ReadOnlyAdmin):
    list_display = ["target", "name", "format", "size"]


@admin.register(FaultConfig)
class FaultConfigAdmin(ReadOnlyAdmin):
    pass


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdmin):
    list_display = ["pattern", "count"]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ["task_id", "target_id", "target_status", "attempt", "response_status", "error"]


@admin.register(ReceivedWebhook)
class ReceivedWebhookAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "content_type"]
