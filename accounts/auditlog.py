"""The audit log page for team admins (`/team/audit/`): filters (actor, action, dates, object),
newest first, a page at a time, and the same selection as a streamed CSV
(`/team/audit/export.csv`, cells neutralised by `shakeweb.spreadsheet`). Nothing here changes
or deletes an event: the log is append-only (`audit.models`).

It lives in accounts, not in audit, because accounts' views record events: audit imports no
app of ours, so the two cannot form an import cycle."""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

import audit
from accounts.http import HtmxHttpRequest, varies_with_htmx
from accounts.models import User
from accounts.permissions import admin_required
from audit.export import CSV_HEADER, AuditFilters, audit_csv_rows, audit_page
from shakeweb.spreadsheet import csv_stream

PAGE_SIZE = 50
OBJECT_TYPES = [
    ("", "Any object"),
    ("asset", "Asset"),
    ("task", "Task"),
    ("output", "Output"),
    ("user", "Member"),
    ("project", "Project"),
    ("apitoken", "API token"),
]


class ActorField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return (
            obj.display_name
            if obj.display_name == obj.username
            else (f"{obj.display_name} ({obj.username})")
        )


class AuditFilterForm(forms.Form):
    actor = ActorField(
        label="Who",
        required=False,
        queryset=User.objects.order_by("username"),
        empty_label="Anyone",
    )
    action = forms.ChoiceField(
        label="Action", required=False, choices=[("", "Any action"), *audit.Action.choices]
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    object_type = forms.ChoiceField(label="Object", required=False, choices=OBJECT_TYPES)
    object_id = forms.CharField(label="Object id", required=False, max_length=64)
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data, label_suffix="")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
            data.pop("date_to", None)
        return data

    def filters(self) -> AuditFilters:
        """The valid filters (an invalid one is left out and the page says so)."""
        self.is_valid()
        data = self.cleaned_data
        return AuditFilters(
            actor=data.get("actor"),
            action=data.get("action") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            object_type=data.get("object_type") or "",
            object_id=(data.get("object_id") or "").strip(),
        )


def _query(request: HtmxHttpRequest, **changes: Any) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    for key, value in changes.items():
        params[key] = str(value)
    return params.urlencode()


@admin_required
@require_GET
@varies_with_htmx
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    number = form.cleaned_data.get("page") or 1
    events, older = audit_page(filters, page=number, size=PAGE_SIZE)
    context = {
        "form": form,
        "events": events,
        "number": number,
        "newer": _query(request, page=number - 1) if number > 1 else None,
        "older": _query(request, page=number + 1) if older else None,
        "export_query": _query(request),
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "accounts/audit.html#results", context)
    return render(request, "accounts/audit.html", context)


@admin_required
@require_GET
def audit_export(request: HtmxHttpRequest) -> StreamingHttpResponse:
    """The filtered log as CSV, streamed; the export itself is recorded too."""
    filters = AuditFilterForm(request.GET).filters()
    audit.record(request, audit.Action.AUDIT_EXPORTED, query=request.GET.urlencode())
    response = StreamingHttpResponse(
        csv_stream(CSV_HEADER, audit_csv_rows(filters)), content_type="text/csv; charset=utf-8"
    )
    name = f"shakeweb-audit_{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


urlpatterns = [
    path("team/audit/", audit_log, name="log"),
    path("team/audit/export.csv", audit_export, name="export"),
]
