"""Team and project changes. Views call these; they are the only code that writes users and
projects (the Django admin aside), and they keep one rule the database cannot: the team always
has at least one active admin."""

import logging
import smtplib
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Project, Role, User
from accounts.sessions import sessions_end

logger = logging.getLogger(__name__)


class ChangeRefused(Exception):
    """A team or project change that would break a rule; the message is shown as is."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else "This change is not allowed."


@dataclass(frozen=True)
class Invitation:
    user: User
    link: str
    emailed: bool


def _active_admins() -> Q:
    return Q(is_active=True) & (Q(role=Role.ADMIN) | Q(is_superuser=True))


def _refuse_superuser(member: User) -> None:
    if member.is_superuser:
        raise ChangeRefused(
            f"{member.display_name} is a superuser: change them in the Django admin."
        )


def _keep_an_admin(member: User) -> None:
    """Refuse when `member` is the last active admin. Locks the admin rows, so two admins
    demoting each other at the same moment cannot both succeed."""
    admins = list(User.objects.select_for_update().filter(_active_admins()).values_list("pk"))
    if admins == [(member.pk,)]:
        raise ChangeRefused(
            f"{member.display_name} is the last active admin: make someone else admin first."
        )


def split_name(name: str) -> tuple[str, str]:
    """'Ada King Lovelace' -> ('Ada', 'King Lovelace'); joined back by `get_full_name()`."""
    first, _, last = " ".join(name.split()).partition(" ")
    return first, last


def invitation_link(*, user: User, site_url: str) -> str:
    """A set-password link (Django's password-reset token: valid for PASSWORD_RESET_TIMEOUT,
    void once the password is set)."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return site_url.rstrip("/") + path


def invitation_send(*, user: User, link: str, invited_by: User) -> bool:
    """E-mail the link. Returns False (and logs) when the mail server refuses: the admin
    still sees the link and can pass it on."""
    context = {"user": user, "link": link, "invited_by": invited_by}
    try:
        sent = EmailMessage(
            subject=render_to_string("accounts/invitation_subject.txt", context).strip(),
            body=render_to_string("accounts/invitation_email.txt", context),
            to=[user.email],
        ).send()
    except (smtplib.SMTPException, OSError):
        logger.warning("Could not e-mail the invitation for user %s", user.pk, exc_info=True)
        return False
    return sent == 1


def member_invite(
    *, username: str, email: str, name: str, role: str, invited_by: User, site_url: str
) -> Invitation:
    """Create a member without a usable password and invite them to choose one."""
    first_name, last_name = split_name(name)
    user = User(
        username=username, email=email, first_name=first_name, last_name=last_name, role=role
    )
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the form checked, but someone took the name meanwhile
        raise ChangeRefused(f"Someone already has the username {username!r}.") from None
    link = invitation_link(user=user, site_url=site_url)
    emailed = invitation_send(user=user, link=link, invited_by=invited_by)
    return Invitation(user=user, link=link, emailed=emailed)


def member_reinvite(*, member: User, invited_by: User, site_url: str) -> Invitation:
    """A fresh set-password link for someone who has not chosen a password yet."""
    _refuse_superuser(member)
    if member.has_usable_password():
        raise ChangeRefused(
            f"{member.display_name} already has a password; they can reset it from the log-in page."
        )
    if not member.is_active:
        raise ChangeRefused(f"Reactivate {member.display_name} before inviting them again.")
    link = invitation_link(user=member, site_url=site_url)
    emailed = invitation_send(user=member, link=link, invited_by=invited_by)
    return Invitation(user=member, link=link, emailed=emailed)


def member_set_role(*, member: User, role: str) -> User:
    if role not in Role.values:
        raise ChangeRefused(f"Unknown role {role!r}.")
    _refuse_superuser(member)
    with transaction.atomic():
        if member.role == Role.ADMIN and role != Role.ADMIN:
            _keep_an_admin(member)
        User.objects.filter(pk=member.pk).update(role=role)
    member.role = role
    return member


def member_set_active(*, member: User, active: bool) -> User:
    """(De)activate a member. Deactivating also ends their log-ins: a reactivated member
    logs in again, their old sessions never come back."""
    _refuse_superuser(member)
    with transaction.atomic():
        if not active:
            _keep_an_admin(member)
        User.objects.filter(pk=member.pk).update(is_active=active)
        if not active:
            sessions_end(user_pk=member.pk)
    member.is_active = active
    return member


def member_set_cost_access(*, member: User, allowed: bool) -> User:
    _refuse_superuser(member)
    User.objects.filter(pk=member.pk).update(can_view_costs=allowed)
    member.can_view_costs = allowed
    return member


def project_code_normalise(*, code: str) -> str:
    """A project code as stored: trimmed and lower case (the form checks the characters)."""
    return code.strip().lower()


def project_create(
    *, name: str, code: str, monthly_budget: Decimal | None, archived: bool = False
) -> Project:
    project = Project(
        name=name,
        code=project_code_normalise(code=code),
        monthly_budget=monthly_budget,
        archived=archived,
    )
    _project_save(project)
    return project


class Unchanged:
    """The value of a `project_update` argument that was not passed: keep the stored one."""


UNCHANGED = Unchanged()


def project_update(
    *,
    project: Project,
    name: str,
    code: str,
    monthly_budget: Decimal | None,
    archived: bool,
    approval_task_credits: Decimal | None | Unchanged = UNCHANGED,
    approval_batch_credits: Decimal | None | Unchanged = UNCHANGED,
) -> Project:
    """Save the project's settings; thresholds not passed (the Projects page's form has
    none) stay as they are."""
    project.name = name
    project.code = project_code_normalise(code=code)
    project.monthly_budget = monthly_budget
    project.archived = archived
    if not isinstance(approval_task_credits, Unchanged):
        project.approval_task_credits = approval_task_credits
    if not isinstance(approval_batch_credits, Unchanged):
        project.approval_batch_credits = approval_batch_credits
    _project_save(project)
    return project


def _project_save(project: Project) -> None:
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError:  # the form checked, but another admin took the name or code meanwhile
        raise ChangeRefused("Another project already has this name or code.") from None
