"""The profile page's API tokens (`/profile/tokens/`): every logged-in member lists, creates
and revokes their own tokens. A new token's secret is shown once, in the response to the POST
that created it (the page is never cached: `SessionPolicyMiddleware` sends no-store)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

import audit
from accounts.http import HtmxHttpRequest
from api.models import ApiToken
from api.tokens import token_create, token_revoke


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        help_text="What uses it, for example “nightly stems script”.",
        error_messages={"required": "Give the token a name, for example the script that uses it."},
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, label_suffix="", **kwargs)


def _page(request: HtmxHttpRequest, form: TokenForm, secret: str = "") -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user)
    context = {"form": form, "tokens": tokens, "secret": secret}
    return render(request, "api/tokens.html", context, status=201 if secret else 200)


@require_http_methods(["GET", "POST"])
def profile_tokens(request: HtmxHttpRequest) -> HttpResponse:
    """The list and the create form; after a create, the secret, once."""
    if request.method == "GET":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            new = token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            audit.record(request, audit.Action.TOKEN_CREATED, new.token)
            return _page(request, TokenForm(), secret=new.secret)
    return _page(request, form)


@require_POST
def profile_token_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    token = ApiToken.objects.filter(pk=pk, user=request.user).first()
    if token is None:
        raise Http404("No such token of yours.")
    if token_revoke(token=token):
        audit.record(request, audit.Action.TOKEN_REVOKED, token)
        messages.success(request, f"Revoked “{token.name}”: it no longer works.")
    return redirect("api:profile_tokens")


urlpatterns = [
    path("profile/tokens/", profile_tokens, name="profile_tokens"),
    path("profile/tokens/<int:pk>/revoke/", profile_token_revoke, name="profile_token_revoke"),
]
