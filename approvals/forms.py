from django import forms

REASON_MAX = 1000


class DecisionForm(forms.Form):
    """An admin's approve or decline: an optional reason, and for an approval that would go
    over the budget, the explicit "approve anyway"."""

    reason = forms.CharField(
        max_length=REASON_MAX,
        required=False,
        strip=True,
        error_messages={"max_length": f"Keep the reason under {REASON_MAX} characters."},
    )
    budget_override = forms.BooleanField(required=False)
