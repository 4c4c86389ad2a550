"""The filters of the Costs page, shared by the CSV export and `manage.py export_costs`:
the same query string (or command options) is validated by the same form."""

from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import QueryDict

from accounts.models import Project, User
from costs.ledger import CHARGED_ERROR, LedgerFilters
from costs.rollup import add_months, ledger_models
from costs.services import GROUP_BY_CHOICES
from jobs.models import TargetStatus
from jobs.periods import month_start

DEFAULT_MONTHS = 12  # the default period: this month and the 11 before it
PERIOD_VALIDATORS = [
    MinValueValidator(date(2000, 1, 1), "Pick a date from the year 2000 on."),
    MaxValueValidator(date(2100, 12, 31), "Pick a date before the year 2101."),
]
STATUS_CHOICES = [
    ("", "Any status"),
    *TargetStatus.choices,
    (CHARGED_ERROR, "Errored, with a cost"),
]


class DateInput(forms.DateInput):
    input_type = "date"


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return (
            obj.display_name
            if obj.display_name == obj.username
            else f"{obj.display_name} ({obj.username})"
        )


def model_choices() -> list[tuple[str, str]]:
    """The catalogue's models and any model found in the ledger, in one query."""
    return [("", "All models"), *((key, key) for key in ledger_models())]


def with_default_period(data: QueryDict | dict, *, today: date) -> QueryDict | dict:
    """`data` with the default period filled in where a date is missing, so that the form
    shows (and the export link carries) the dates the figures are for."""
    data = data.copy()
    if not data.get("date_to"):
        data["date_to"] = today.isoformat()
    if not data.get("date_from"):
        try:
            end = date.fromisoformat(str(data["date_to"]))
        except ValueError:
            end = today
        data["date_from"] = add_months(month_start(end), 1 - DEFAULT_MONTHS).isoformat()
    return data


class CostFilterForm(forms.Form):
    """Period (inclusive UTC days), project, member, model and status. An empty period means
    this month and the eleven before it."""

    date_from = forms.DateField(
        label="From", required=False, widget=DateInput, validators=PERIOD_VALIDATORS
    )
    date_to = forms.DateField(
        label="To", required=False, widget=DateInput, validators=PERIOD_VALIDATORS
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.order_by("name"),
        to_field_name="code",
        required=False,
        empty_label="All projects",
    )
    member = MemberChoiceField(
        queryset=User.objects.order_by("username"),
        to_field_name="username",
        required=False,
        empty_label="Everyone",
    )
    model = forms.ChoiceField(required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)

    def __init__(self, data: QueryDict | dict | None = None, *, today: date) -> None:
        if data is not None:
            data = with_default_period(data, today=today)
        super().__init__(data, label_suffix="")
        self.fields["model"].choices = model_choices()

    def clean(self) -> dict:
        data = super().clean()
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError(
                "The start date is after the end date: swap them or pick another period."
            )
        return data

    def filters(self) -> LedgerFilters:
        """The validated filters (call after `is_valid()`)."""
        data = self.cleaned_data
        return LedgerFilters(
            date_from=data["date_from"],
            date_to=data["date_to"],
            project=data.get("project"),
            member=data.get("member"),
            model=data.get("model") or "",
            status=data.get("status") or "",
        )


class ExportOptionsForm(forms.Form):
    """What the CSV holds: one row per target, or a summary per group; a BOM for Excel."""

    group_by = forms.ChoiceField(
        label="Rows",
        choices=[
            ("", "One row per target"),
            *((k, f"Summary by {v.lower()}") for k, v in GROUP_BY_CHOICES),
        ],
        required=False,
    )
    bom = forms.BooleanField(label="For Excel (UTF-8 with BOM)", required=False)

    def __init__(self, data: QueryDict | dict | None = None) -> None:
        super().__init__(data, label_suffix="")
