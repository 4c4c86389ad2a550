"""The Django admin for superusers. Day-to-day team changes go through the Team page, which
keeps the "at least one active admin" rule; the admin is the escape hatch."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.forms import Form
from django.http import HttpRequest

from accounts.forms import ProjectForm
from accounts.models import Project, User
from accounts.sessions import sessions_end


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

    def save_model(self, request: HttpRequest, obj: User, form: Form, change: bool) -> None:
        """Deactivating someone here ends their log-ins too, as on the Team page."""
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            sessions_end(user_pk=obj.pk)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm  # the same code rules as the Projects page (lower case, clear messages)
    list_display = ["name", "code", "monthly_budget", "archived", "created_at"]
    list_filter = ["archived"]
    search_fields = ["name", "code"]
    readonly_fields = ["created_at"]
