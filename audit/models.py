"""`AuditEvent`: one row per thing a person (or the system) did. Append-only: saving an
existing event, deleting one and bulk updates or deletes all raise `AuditImmutable`; the admin
offers neither change nor delete, and no page deletes events.

Deleting a user keeps their events: the actor becomes empty and `actor_name` keeps who it was."""

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.actions import Action, Via


class AuditImmutable(Exception):
    """The audit log is append-only."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditImmutable("Audit events cannot be changed.")

    def delete(self) -> NoReturn:
        raise AuditImmutable("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # the (actor, at) index below serves it
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="Kept if the user goes")
    action = models.CharField(max_length=32, choices=Action.choices)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    via = models.CharField(max_length=8, choices=Via.choices, default=Via.WEB)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The page's newest-first order, alone and under each filter.
            models.Index(fields=["-at", "-id"], name="audit_at"),
            models.Index(fields=["actor", "-at", "-id"], name="audit_actor_at"),
            models.Index(fields=["action", "-at", "-id"], name="audit_action_at"),
            models.Index(fields=["object_type", "object_id", "-at", "-id"], name="audit_object_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditImmutable("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditImmutable("Audit events cannot be deleted.")

    @property
    def object_text(self) -> str:
        if not self.object_type:
            return ""
        return f"{self.object_type} {self.object_id} {self.object_label}".strip()
