"""Personal API tokens. A token is `shk_<prefix>_<secret>`: the prefix is kept and shown so a
member can tell their tokens apart; only the SHA-256 of the whole token is stored, so the
secret is shown once, when it is created. A token acts with its user's role *now* (a member
demoted to viewer gets a read-only token), and stops working when revoked or when the user is
deactivated."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet):
    def live(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the member calls it")
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown, to tell tokens apart")
    secret_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None
