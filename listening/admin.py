from django.contrib import admin

from listening.models import MixExport, MixStem, TargetRating


class MixStemInline(admin.TabularInline):
    model = MixStem
    extra = 0
    raw_id_fields = ("output",)


@admin.register(MixExport)
class MixExportAdmin(admin.ModelAdmin):
    list_display = ("pk", "task", "created_by", "format", "state", "progress", "created_at")
    list_filter = ("state", "format")
    raw_id_fields = ("task", "created_by")
    inlines = [MixStemInline]


@admin.register(TargetRating)
class TargetRatingAdmin(admin.ModelAdmin):
    list_display = ("target", "user", "verdict", "updated_at")
    list_filter = ("verdict",)
    raw_id_fields = ("target", "user")
