"""The Django admin for superusers. Day-to-day team changes go through the Team page, which
keeps the "at least one active admin" rule; the admin is the escape hatch."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.forms import ProjectForm
from accounts.models import Project, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "can_view_costs",
        "is_active",
        "is_superuser",
        "last_login",
    ]
    list_filter = ["role", "can_view_costs", "is_active", "is_superuser"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Team role", {"fields": ["role", "can_view_costs"]}),
    ]
    add_fieldsets = [
        *DjangoUserAdmin.add_fieldsets,
        ("Team role", {"fields": ["email", "role", "can_view_costs"]}),
    ]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm  # the same code rules as the Projects page (lower case, clear messages)
    list_display = ["name", "code", "monthly_budget", "archived", "created_at"]
    list_filter = ["archived"]
    search_fields = ["name", "code"]
    readonly_fields = ["created_at"]
