"""Forms of the asset screens: they validate input and leave the writing to
`jobs.services.assets`."""

from typing import Any

from django import forms

from accounts.models import Project, User
from jobs.audiofile import FORMAT_LABELS, SUPPORTED_FORMATS
from jobs.models import RemoteStatus
from jobs.services.assets import validate_source_url


def active_projects() -> Any:
    return Project.objects.active().order_by("name")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern). Each file is checked by
    content in the service, not here."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class SourceFields(forms.Form):
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        empty_label="Choose a project",
        error_messages={"required": "Choose the project these files belong to."},
    )
    rights = forms.BooleanField(
        label="I confirm the team has the rights to process this audio",
        error_messages={"required": "Confirm that the team has the rights to this audio."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        projects = active_projects()
        self.fields["project"].queryset = projects
        if not self.is_bound and not self.initial.get("project"):
            only = list(projects.values_list("pk", flat=True)[:2])
            if len(only) == 1:  # a single active project: nothing to choose
                self.initial["project"] = only[0]


class AssetUploadForm(SourceFields):
    files = MultipleFileField(
        label="Audio or video files",
        required=False,
        allow_empty_file=True,  # the service refuses empty files with its own message
        help_text="WAV, AIFF, FLAC, MP3, AAC/M4A, MP4 or MOV; mono or stereo; up to 2 GB each.",
        widget=MultipleFileInput(attrs={"accept": "audio/*,video/mp4,video/quicktime"}),
    )


class AssetUrlForm(SourceFields):
    prefix = "url"  # shares the upload page with AssetUploadForm: keep the ids apart

    url = forms.CharField(
        label="Public HTTPS URL",
        max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://cdn.example.com/mix.wav"}),
        help_text="AudioShake fetches it at each task: it must stay reachable without a login.",
    )
    name = forms.CharField(
        label="Name", max_length=150, required=False, help_text="Defaults to the file's name."
    )

    def clean_url(self) -> str:
        return validate_source_url(self.cleaned_data["url"])


class AssetRenameForm(forms.Form):
    name = forms.CharField(label="Name", max_length=150, strip=True)


class AssetMoveForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.none(), label="Project")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = active_projects()


SORT_CHOICES = [
    ("-created", "Newest first"),
    ("created", "Oldest first"),
    ("name", "Name A–Z"),
    ("-name", "Name Z–A"),
    ("-duration", "Longest"),
    ("duration", "Shortest"),
    ("-size", "Largest"),
    ("size", "Smallest"),
    ("expiry", "Expiring first"),
    ("-expiry", "Expiring last"),
]


class AssetFilterForm(forms.Form):
    """The library's search, filters and sort, read from the query string. Unknown values
    are dropped rather than refused (a stale bookmark still opens the library)."""

    q = forms.CharField(label="Search by name", required=False, max_length=150)
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="All projects"
    )
    uploader = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Anyone", label="Uploaded by"
    )
    status = forms.ChoiceField(choices=[("", "Any status"), *RemoteStatus.choices], required=False)
    format = forms.ChoiceField(
        choices=[("", "Any format")] + [(f, FORMAT_LABELS[f]) for f in SUPPORTED_FORMATS],
        required=False,
    )
    expiring = forms.BooleanField(label="Expiring within 12 h", required=False)
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False, label="Sort by")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.order_by("name")
        self.fields["uploader"].queryset = User.objects.filter(is_active=True).order_by("username")
        self.fields["uploader"].label_from_instance = lambda user: user.display_name

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `asset_search`, ignoring any field that did not validate."""
        self.is_valid()  # cleaned_data then holds only the fields that validated
        data = self.cleaned_data
        return {
            "query": (data.get("q") or "").strip(),
            "project": data.get("project"),
            "uploader": data.get("uploader"),
            "status": data.get("status") or "",
            "expiring_soon": bool(data.get("expiring")),
            "fmt": data.get("format") or "",
            "sort": data.get("sort") or "-created",
        }
