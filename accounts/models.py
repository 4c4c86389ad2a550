from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.urls import reverse


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"


class Theme(models.TextChoices):
    SYSTEM = "system", "System"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class User(AbstractUser):
    """A team member. The role decides what they may do:

    - viewer: sees and downloads, cannot spend credits;
    - member: also uploads audio and submits tasks;
    - admin: also manages members, projects and budgets.

    Superusers are treated as admins.
    """

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    can_view_costs = models.BooleanField(
        default=False, help_text="Members with this flag see the Costs page; admins always do."
    )
    theme = models.CharField(
        max_length=8,
        choices=Theme.choices,
        default=Theme.SYSTEM,
        help_text="Colours of every page: light, dark, or the device's setting.",
    )

    THEMES = Theme.choices  # for templates (the header's theme buttons)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="accounts_user_role_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(theme__in=Theme.values), name="accounts_user_theme_valid"
            ),
        ]

    @property
    def is_team_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN

    @property
    def can_spend(self) -> bool:
        """Upload audio and submit tasks (both cost credits)."""
        return self.is_active and (self.is_team_admin or self.role == Role.MEMBER)

    @property
    def sees_costs(self) -> bool:
        return self.is_team_admin or self.can_view_costs

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ProjectQuerySet(models.QuerySet):
    def active(self) -> "ProjectQuerySet":
        return self.filter(archived=False)


class Project(models.Model):
    """Every asset and task belongs to one project, for cost attribution and budgets."""

    name = models.CharField(max_length=120, unique=True)
    code = models.SlugField(max_length=32, unique=True, help_text="Short code used in exports.")
    monthly_budget = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Credits per calendar month (UTC). Empty means no budget.",
    )
    # Approvals (the approvals app): a member's task (or batch) whose estimate is above the
    # threshold waits for an admin before anything is sent. Empty: no approval needed.
    approval_task_credits = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="A member's task estimated above this many credits waits for an admin's "
        "approval. Empty means no approval needed.",
    )
    approval_batch_credits = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The same for a whole batch of tasks. Empty means no approval needed.",
    )
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(monthly_budget__isnull=True)
                | models.Q(monthly_budget__gte=Decimal(0)),
                name="accounts_project_budget_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(approval_task_credits__isnull=True)
                | models.Q(approval_task_credits__gte=Decimal(0)),
                name="accounts_project_approval_task_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(approval_batch_credits__isnull=True)
                | models.Q(approval_batch_credits__gte=Decimal(0)),
                name="accounts_project_approval_batch_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("accounts:project_edit", args=[self.pk])
