"""What the team does while listening to a task's stems: mix exports (the chosen stems with
their gains rendered into one file by the poller) and ratings of each target (good, bleed,
artefacts) with a note. Kept out of the jobs app: nothing here calls AudioShake."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.models import Output, Target, Task, outputs_storage

# The gains a stem may take, in dB (the form's bounds and the database's).
GAIN_MIN_DB = -60.0
GAIN_MAX_DB = 12.0
PAN_MIN = -100.0  # all left
PAN_MAX = 100.0  # all right


def mix_upload_to(instance: "MixExport", filename: str) -> str:
    return f"mixes/{instance.task_id}/{uuid.uuid4().hex}.{instance.format}"


class MixExport(models.Model):
    """One rendering of a task's stems with the user's gains into a WAV, FLAC or MP3 file.
    The web tier creates it `queued` with its `mix_render` work item; the poller renders it
    (`listening.handlers`), writing `progress` as it goes, then `done` with the file, or
    `error` with a message."""

    class Format(models.TextChoices):
        WAV = "wav", "WAV (24-bit)"
        FLAC = "flac", "FLAC (24-bit)"
        MP3 = "mp3", "MP3"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        DONE = "done", "Ready"
        ERROR = "error", "Failed"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="mix_exports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="mix_exports"
    )
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.WAV)
    normalise = models.BooleanField(
        default=False, help_text="Scale the mix so its peak is at -1 dBFS (only when asked)"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    message = models.TextField(blank=True, help_text="Why it failed, or a note (it clipped)")
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    file = models.FileField(
        storage=outputs_storage, upload_to=mix_upload_to, blank=True, max_length=255
    )
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    frames = models.BigIntegerField(null=True, blank=True)
    peak = models.FloatField(null=True, blank=True, help_text="Peak of the sum before clipping")
    clipped_samples = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["task", "-created_at"], name="listening_mix_task_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["queued", "rendering", "done", "error"]),
                name="listening_mix_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(format__in=["wav", "flac", "mp3"]), name="listening_mix_format_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="listening_mix_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Mix {self.pk} of task {self.task_id} ({self.format}, {self.state})"

    @property
    def work_key(self) -> str:
        return f"mix_render:{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.ERROR)

    @property
    def badge(self) -> str:
        """The badge class of its state (the colours of the task states)."""
        return {"queued": "queued", "rendering": "processing", "done": "completed"}.get(
            self.state, "error"
        )

    @property
    def download_name(self) -> str:
        return f"task {self.task_id} mix {self.pk}.{self.format}"


class MixStem(models.Model):
    """One stem of a mix export: a kept output with its gain (dB) and pan (-100 left .. 100
    right). Stems the user left out of the mix have no row."""

    export = models.ForeignKey(MixExport, on_delete=models.CASCADE, related_name="stems")
    output = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    gain_db = models.FloatField(default=0.0)
    pan = models.FloatField(default=0.0)

    class Meta:
        ordering = ["export", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gain_db__gte=GAIN_MIN_DB, gain_db__lte=GAIN_MAX_DB),
                name="listening_stem_gain_range",
            ),
            models.CheckConstraint(
                condition=Q(pan__gte=PAN_MIN, pan__lte=PAN_MAX), name="listening_stem_pan_range"
            ),
            models.UniqueConstraint(fields=["export", "output"], name="listening_stem_once"),
        ]

    def __str__(self) -> str:
        return f"{self.output} at {self.gain_db:+.1f} dB"

    @property
    def gain(self) -> float:
        """The linear factor of `gain_db`."""
        return float(10 ** (self.gain_db / 20))


class TargetRating(models.Model):
    """A team member's verdict on a target's stems after listening (A/B), with a note. One per
    (target, user): rating again updates it in place."""

    class Verdict(models.TextChoices):
        GOOD = "good", "Good"
        BLEED = "bleed", "Bleed"
        ARTEFACTS = "artefacts", "Artefacts"

    FLAGS = (Verdict.BLEED, Verdict.ARTEFACTS)

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="target_ratings"
    )
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    note = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["target", "updated_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["target", "user"], name="listening_rating_once"),
            models.CheckConstraint(
                condition=Q(verdict__in=["good", "bleed", "artefacts"]),
                name="listening_rating_verdict_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.target}: {self.verdict}"

    @property
    def badge(self) -> str:
        return "completed" if self.verdict == self.Verdict.GOOD else "warning"

    @property
    def is_flag(self) -> bool:
        return self.verdict in self.FLAGS
