"""The Team and Projects screens (admins only) and the one auth view we adapt.

Every team action is a POST that works as a plain form (redirect back to the Team page with a
message) and, with htmx, swaps only the member's row (`accounts/team.html#member_row`)."""

import axes.utils
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.db.models import Count
from django.forms import Form
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

import audit
from accounts import services
from accounts.clientip import client_ip
from accounts.forms import (
    FlagForm,
    MemberInviteForm,
    ProjectEditForm,
    ProjectForm,
    RoleForm,
    ThemeForm,
)
from accounts.http import HtmxHttpRequest
from accounts.models import Project, Role, User
from accounts.permissions import admin_required
from accounts.throttle import password_reset_allowed, throttled_message

INVITATION_SESSION_KEY = "accounts:invitation"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's set-password step (password resets and invitations). Saving the password logs
    the member in and lands on the dashboard with a welcome; it also lifts a log-in lock-out
    for that username (only the mailbox owner gets here). A deactivated member's link does not
    work."""

    post_reset_login = True
    # Named explicitly: with axes' backend first in AUTHENTICATION_BACKENDS, login() cannot
    # pick one itself. The password was just set through a valid token, so no axes check.
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("jobs:dashboard")

    def get_user(self, uidb64: str) -> User | None:
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form: Form) -> HttpResponse:
        invited = not self.user.has_usable_password()
        response = super().form_valid(form)
        axes.utils.reset(username=self.user.get_username())
        if invited:
            messages.success(
                self.request,
                f"Welcome to the team, {self.user.display_name}! Your password is saved and "
                "you are logged in.",
            )
        else:
            messages.success(self.request, "Your new password is saved and you are logged in.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, throttled per client address and per e-mail address typed
    (`accounts.throttle`); the answer is the same whether the address has an account."""

    def form_valid(self, form: Form) -> HttpResponse:
        email = form.cleaned_data["email"]
        if not password_reset_allowed(ip=client_ip(self.request), email=email):
            form.add_error("email", throttled_message())
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().form_valid(form)


def _site_url(request: HtmxHttpRequest) -> str:
    return request.build_absolute_uri("/")


def _members() -> list[User]:
    return list(User.objects.order_by("-is_active", "username"))


@admin_required
@require_http_methods(["GET", "POST"])
def team(request: HtmxHttpRequest) -> HttpResponse:
    """The member list and the add-member form (POST adds and shows the invitation link)."""
    form = MemberInviteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.member_invite(
                **form.cleaned_data, invited_by=request.user, site_url=_site_url(request)
            )
        except services.ChangeRefused as refused:
            form.add_error("username", refused.message)
            return _team_page(request, form)
        # Shown once on the next page (kept server-side, never in a cookie).
        request.session[INVITATION_SESSION_KEY] = {
            "username": invitation.user.username,
            "email": invitation.user.email,
            "link": invitation.link,
            "emailed": invitation.emailed,
        }
        messages.success(request, f"{invitation.user.display_name} was added to the team.")
        return redirect("accounts:team")
    return _team_page(request, form)


def _team_page(request: HtmxHttpRequest, form: MemberInviteForm) -> HttpResponse:
    context = {
        "form": form,
        "members": _members(),
        "roles": Role.choices,
        "invitation": request.session.pop(INVITATION_SESSION_KEY, None),
    }
    return render(request, "accounts/team.html", context)


def _member_changed(
    request: HtmxHttpRequest, member: User, *, notice: str = "", error: str = ""
) -> HttpResponse:
    """htmx: the member's row again, with the outcome inside it. Otherwise: back to the list."""
    if request.htmx:
        context = {"member": member, "roles": Role.choices, "row_notice": notice}
        context["row_error"] = error
        return render(request, "accounts/team.html#member_row", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("accounts:team")


@admin_required
@require_POST
def member_role(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(User, pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _member_changed(request, member, error="Choose one of the roles in the list.")
    old = member.role
    try:
        services.member_set_role(member=member, role=form.cleaned_data["role"])
    except services.ChangeRefused as refused:
        return _member_changed(request, member, error=refused.message)
    audit.record(request, audit.Action.ROLE_CHANGED, member, old=old, new=member.role)
    return _member_changed(
        request, member, notice=f"{member.display_name} is now {member.get_role_display()}."
    )


@admin_required
@require_POST
def member_costs(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(User, pk=pk)
    form = FlagForm(request.POST)
    if not form.is_valid():
        return _member_changed(request, member, error="The cost setting was not understood.")
    try:
        services.member_set_cost_access(member=member, allowed=form.cleaned_data["value"])
    except services.ChangeRefused as refused:
        return _member_changed(request, member, error=refused.message)
    audit.record(request, audit.Action.COST_ACCESS_CHANGED, member, sees=member.can_view_costs)
    verb = "now sees" if member.can_view_costs else "no longer sees"
    return _member_changed(request, member, notice=f"{member.display_name} {verb} costs.")


@admin_required
@require_POST
def member_active(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(User, pk=pk)
    form = FlagForm(request.POST)
    if not form.is_valid():
        return _member_changed(request, member, error="The change was not understood.")
    try:
        services.member_set_active(member=member, active=form.cleaned_data["value"])
    except services.ChangeRefused as refused:
        return _member_changed(request, member, error=refused.message)
    audit.record(request, audit.Action.MEMBER_ACTIVE_CHANGED, member, active=member.is_active)
    state = "reactivated" if member.is_active else "deactivated: they can no longer log in"
    return _member_changed(request, member, notice=f"{member.display_name} was {state}.")


@admin_required
@require_POST
def member_invitation(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A fresh set-password link for a member who has not chosen a password yet."""
    member = get_object_or_404(User, pk=pk)
    try:
        invitation = services.member_reinvite(
            member=member, invited_by=request.user, site_url=_site_url(request)
        )
    except services.ChangeRefused as refused:
        messages.error(request, refused.message)
        return redirect("accounts:team")
    request.session[INVITATION_SESSION_KEY] = {
        "username": member.username,
        "email": member.email,
        "link": invitation.link,
        "emailed": invitation.emailed,
    }
    return redirect("accounts:team")


@admin_required
@require_http_methods(["GET", "POST"])
def project_list(request: HtmxHttpRequest) -> HttpResponse:
    """All projects with their usage, and the create form."""
    form = ProjectForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(**form.cleaned_data)
        except services.ChangeRefused as refused:
            form.add_error(None, refused.message)
        else:
            audit.record(request, audit.Action.PROJECT_CREATED, project, **form.cleaned_data)
            messages.success(request, f"Project {project.name} was created.")
            return redirect("accounts:project_list")
    projects = Project.objects.annotate(
        n_assets=Count("assets", distinct=True), n_tasks=Count("tasks", distinct=True)
    ).order_by("archived", "name")
    return render(request, "accounts/projects.html", {"form": form, "projects": projects})


@admin_required
@require_http_methods(["GET", "POST"])
def project_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    project = get_object_or_404(Project, pk=pk)
    title = project.name  # the form writes its (maybe invalid) input into `project`
    before = {"budget": project.monthly_budget, "name": project.name, "archived": project.archived}
    form = ProjectEditForm(request.POST if request.method == "POST" else None, instance=project)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(project=project, **form.cleaned_data)
        except services.ChangeRefused as refused:
            form.add_error(None, refused.message)
        else:
            audit.record(
                request, audit.Action.BUDGET_CHANGED, project, before=before, **form.cleaned_data
            )
            messages.success(request, f"Project {project.name} was saved.")
            return redirect("accounts:project_list")
    return render(
        request, "accounts/project_edit.html", {"form": form, "project": project, "title": title}
    )


@require_POST
def theme_set(request: HtmxHttpRequest) -> HttpResponse:
    """Any member's colour theme (light, dark, or the device's). A plain form goes back to the
    page it was sent from; htmx gets the header's theme form again, and static/js/theme.js
    copies its choice onto <html>."""
    form = ThemeForm(request.POST)
    back = form.data.get("next", "")
    # A path on this site only: redirect() would take "home" for a view name, and
    # url_has_allowed_host_and_scheme() refuses other hosts and schemes.
    if not back.startswith("/") or not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("jobs:dashboard")
    if form.is_valid():
        request.user.theme = form.cleaned_data["theme"]
        request.user.save(update_fields=["theme"])
    if request.htmx:
        return render(request, "base.html#theme_form", {"theme_next": back})
    if not form.is_valid():
        messages.error(request, "Choose Light, Dark or System.")
    return HttpResponseRedirect(back)


urlpatterns = [
    path("theme/", theme_set, name="theme"),
    path("team/", team, name="team"),
    path("team/<int:pk>/role/", member_role, name="member_role"),
    path("team/<int:pk>/costs/", member_costs, name="member_costs"),
    path("team/<int:pk>/active/", member_active, name="member_active"),
    path("team/<int:pk>/invitation/", member_invitation, name="member_invitation"),
    path("projects/", project_list, name="project_list"),
    path("projects/<int:pk>/", project_edit, name="project_edit"),
]
