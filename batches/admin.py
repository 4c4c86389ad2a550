from django.contrib import admin

from batches.models import Batch, BatchTask


class BatchTaskInline(admin.TabularInline):
    model = BatchTask
    raw_id_fields = ("task",)
    extra = 0


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created_by", "created_at")
    inlines = [BatchTaskInline]
