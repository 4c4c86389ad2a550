"""The Costs page, its CSV export and the button that asks the poller for AudioShake's figures.
No view here calls AudioShake."""

from django.contrib import messages
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from accounts.http import HtmxHttpRequest
from accounts.permissions import costs_required
from costs.export import costs_csv, export_filename
from costs.forms import CostFilterForm, ExportOptionsForm
from costs.overview import cost_overview
from costs.usage import usage_refresh_request


@require_GET
@costs_required
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """Totals, charts, budgets and AudioShake's figures for the filtered period."""
    now = timezone.now()
    form = CostFilterForm(request.GET, today=now.date())
    options = ExportOptionsForm(request.GET)
    context = {"form": form, "options": options, "overview": None}
    if form.is_valid():
        context["overview"] = cost_overview(filters=form.filters(), now=now)
    return render(request, "costs/overview.html", context)


@require_GET
@costs_required
def export_csv(request: HtmxHttpRequest) -> HttpResponse:
    """The ledger (or its summary per group) for the same filters, streamed as CSV."""
    now = timezone.now()
    form = CostFilterForm(request.GET, today=now.date())
    options = ExportOptionsForm(request.GET)
    if not (form.is_valid() and options.is_valid()):
        context = {"form": form, "options": options, "overview": None}
        return render(request, "costs/overview.html", context, status=400)
    filters, group_by = form.filters(), options.cleaned_data["group_by"] or None
    response = StreamingHttpResponse(
        costs_csv(filters=filters, group_by=group_by, bom=options.cleaned_data["bom"]),
        content_type="text/csv; charset=utf-8",
    )
    name = export_filename(filters=filters, group_by=group_by, today=now.date())
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@costs_required
def usage_refresh(request: HtmxHttpRequest) -> HttpResponse:
    """Queue a refresh of AudioShake's usage figures; back to the page with the same filters."""
    usage_refresh_request()
    messages.success(
        request,
        "Asked for AudioShake's figures: the poller fetches them shortly. "
        "Reload the page in a moment.",
    )
    query = QueryDict(request.POST.get("query", ""))
    target = reverse("costs:overview")
    return redirect(f"{target}?{query.urlencode()}" if query else target)


urlpatterns = [
    path("", overview, name="overview"),
    path("export.csv", export_csv, name="export"),
    path("usage/refresh", usage_refresh, name="usage_refresh"),
]
