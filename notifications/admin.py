from django.contrib import admin

from notifications.models import Delivery, Event, Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "email", "browser", "on_finished", "on_failed", "on_late"]
    raw_id_fields = ["user"]


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    fields = ["user", "channel", "state", "attempts", "last_error", "sent_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["key", "kind", "subject", "created_at"]
    list_filter = ["kind"]
    search_fields = ["key", "subject"]
    raw_id_fields = ["task", "project"]
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "user", "channel", "state", "attempts", "sent_at"]
    list_filter = ["channel", "state"]
    raw_id_fields = ["event", "user"]
