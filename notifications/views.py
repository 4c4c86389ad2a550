"""A member's Notifications page (their choices, and this browser's permission) and the tiny
endpoint `static/js/notify.js` polls for browser notices."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from accounts.http import HtmxHttpRequest
from notifications.forms import PreferenceForm
from notifications.services import browser_take, preference_for, preference_update


@require_http_methods(["GET", "POST"])
def notification_settings(request: HtmxHttpRequest) -> HttpResponse:
    """Which channels (e-mail, browser) and which events (finished, failed, late) a member
    is told about. Any logged-in member, viewers included: it only concerns themselves."""
    form = PreferenceForm(
        request.POST if request.method == "POST" else None,
        instance=preference_for(request.user),
    )
    if form.is_valid():
        preference_update(user=request.user, **form.cleaned_data)
        messages.success(request, "Your notification settings were saved.")
        return redirect("notifications:settings")
    context = {"form": form, "late_minutes": settings.NOTIFY_LATE_AFTER_MINUTES}
    return render(request, "notifications/settings.html", context)


@require_POST
def browser_poll(request: HtmxHttpRequest) -> HttpResponse:
    """The member's browser notices not shown yet, taken (so another tab does not show them
    again): 204 when there is none (one indexed query), else JSON for `new Notification()`.
    POST: taking them is a write."""
    events = browser_take(request.user)
    if not events:
        return HttpResponse(status=204)
    notices = [{"title": e.subject, "body": e.text, "url": e.url, "tag": e.key} for e in events]
    return JsonResponse({"notifications": notices})


urlpatterns = [
    path("settings/notifications/", notification_settings, name="settings"),
    path("notifications/browser/", browser_poll, name="browser_poll"),
]
