"""The task list's filters: a GET form read from the query string."""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.db.models import QuerySet, Value
from django.db.models.functions import Coalesce, Concat, Lower, NullIf, Trim

from accounts.models import Project, User
from jobs.catalogue import Catalogue
from jobs.services.tasklist import ListStatus


class MemberChoiceField(forms.ModelChoiceField):
    """People by the name the table shows (`User.display_name`), sorted by it."""

    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


def members_by_display_name() -> QuerySet[User]:
    full_name = Trim(Concat("first_name", Value(" "), "last_name"))
    display = Coalesce(NullIf(full_name, Value("")), "username")
    return User.objects.order_by(Lower(display), "username")


class TaskFilterForm(forms.Form):
    """The list's filters (a GET form). An invalid filter is ignored and says why."""

    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *ListStatus.choices]
    )
    project = forms.ModelChoiceField(
        label="Project", required=False, queryset=Project.objects.all(), empty_label="Any project"
    )
    member = MemberChoiceField(
        label="Member", required=False, queryset=User.objects.none(), empty_label="Anyone"
    )
    model = forms.ChoiceField(label="Model", required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, catalogue: Catalogue) -> None:
        super().__init__(data, label_suffix="")
        self.fields["member"].queryset = members_by_display_name()
        self.fields["model"].choices = [("", "Any model")] + [
            (group.label, [(m.key, m.name) for m in group.models]) for group in catalogue.groups
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data
