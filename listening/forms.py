"""The Export mix form (a row per kept stem: include it, its gain in dB and its pan; the
format; normalise) and the rating form of one target. Forms only validate."""

from dataclasses import dataclass
from typing import Any

from django import forms

from jobs.results import Stem
from listening.models import GAIN_MAX_DB, GAIN_MIN_DB, PAN_MAX, PAN_MIN, MixExport, TargetRating
from listening.services import StemChoice

GAIN_MESSAGE = f"Gains go from {GAIN_MIN_DB:g} to {GAIN_MAX_DB:+g} dB."
PAN_MESSAGE = f"Pan goes from {PAN_MIN:g} (left) to {PAN_MAX:g} (right)."


@dataclass(frozen=True)
class StemRow:
    stem: Stem
    use: forms.BoundField
    gain: forms.BoundField
    pan: forms.BoundField


def _bounded(low: float, high: float, message: str, label: str) -> forms.FloatField:
    return forms.FloatField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        initial=0,
        error_messages={"min_value": message, "max_value": message, "invalid": message},
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )


class MixExportForm(forms.Form):
    """`use_<output pk>`, `gain_<pk>` (dB), `pan_<pk>` for each mixable stem, then the
    format and whether to normalise."""

    format = forms.ChoiceField(
        label="Format",
        choices=MixExport.Format.choices,
        initial=MixExport.Format.WAV,
        error_messages={"invalid_choice": "Unknown format: choose WAV, FLAC or MP3."},
    )
    normalise = forms.BooleanField(
        label="Normalise to a -1 dBFS peak (otherwise a mix that clips is reported)",
        required=False,
    )

    def __init__(self, *args: Any, stems: list[Stem], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "mix-%s")
        super().__init__(*args, **kwargs)
        self.stems = stems
        for stem in stems:
            pk = stem.play.pk
            self.fields[f"use_{pk}"] = forms.BooleanField(
                label=f"Include {stem.label}", required=False, initial=True
            )
            self.fields[f"gain_{pk}"] = _bounded(
                GAIN_MIN_DB, GAIN_MAX_DB, GAIN_MESSAGE, f"Gain of {stem.label} (dB)"
            )
            self.fields[f"pan_{pk}"] = _bounded(
                PAN_MIN, PAN_MAX, PAN_MESSAGE, f"Pan of {stem.label} (-100 left, 100 right)"
            )

    @property
    def rows(self) -> list[StemRow]:
        return [
            StemRow(
                stem=s,
                use=self[f"use_{s.play.pk}"],
                gain=self[f"gain_{s.play.pk}"],
                pan=self[f"pan_{s.play.pk}"],
            )
            for s in self.stems
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.stems:
            raise forms.ValidationError("This task has no kept stem to mix yet.")
        if not any(data.get(f"use_{s.play.pk}") for s in self.stems):
            raise forms.ValidationError("Choose at least one stem to mix.")
        return data

    def choices(self) -> list[StemChoice]:
        data = self.cleaned_data
        return [
            StemChoice(
                output=s.play,
                gain_db=data.get(f"gain_{s.play.pk}") or 0.0,
                pan=data.get(f"pan_{s.play.pk}") or 0.0,
            )
            for s in self.stems
            if data.get(f"use_{s.play.pk}")
        ]


class RatingForm(forms.Form):
    """One target's verdict and note; prefixed by the target so several fit on a page."""

    verdict = forms.ChoiceField(
        label="Verdict",
        choices=TargetRating.Verdict.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose good, bleed or artefacts.",
            "invalid_choice": "Choose good, bleed or artefacts.",
        },
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 1000}),
        error_messages={"max_length": "Keep the note under 1000 characters."},
    )
