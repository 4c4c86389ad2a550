from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from accounts.models import Project, Role, Theme, User
from accounts.services import project_code_normalise


class MemberInviteForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="What they type to log in. Letters, digits and @ . + - _ only.",
    )
    email = forms.EmailField(
        label="E-mail", help_text="The invitation and password resets go here."
    )
    name = forms.CharField(max_length=300, required=False, help_text="Shown in lists.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("Someone already has this username.")
        return username

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"].strip())
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("Someone on the team already uses this e-mail address.")
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class FlagForm(forms.Form):
    """The new value of an on/off setting, sent explicitly (`1` or `0`) so that a repeated
    POST sets the same value again instead of flipping it back."""

    value = forms.TypedChoiceField(choices=[("1", "on"), ("0", "off")], coerce=lambda v: v == "1")


class ThemeForm(forms.Form):
    """The colours a member chose (the header's Light / Dark / System buttons)."""

    theme = forms.ChoiceField(choices=Theme.choices)
    next = forms.CharField(required=False)


CODE_CHARACTERS = (
    "Use only letters, digits, hyphens (-) and underscores (_) in the code, "
    "with no spaces or accents."
)


class ProjectForm(forms.ModelForm):
    """The Projects page's form, also the Django admin's: a code is saved in lower case."""

    class Meta:
        model = Project
        fields = ["name", "code", "monthly_budget", "archived"]
        labels = {"monthly_budget": "Monthly budget (credits)", "archived": "Archived"}
        error_messages = {
            "name": {"unique": "Another project already has this name."},
            "code": {
                "invalid": CODE_CHARACTERS,
                "unique": "Another project already uses this code.",
            },
        }
        help_texts = {
            "code": "Short code used in exports: letters, digits, - and _, saved in lower case.",
            "monthly_budget": "Credits per calendar month (UTC). Leave empty for no budget.",
            "archived": "Archived projects keep their history but are no longer offered "
            "for new uploads and tasks.",
        }

    def clean_code(self) -> str:
        return project_code_normalise(code=self.cleaned_data["code"])

    def clean_monthly_budget(self) -> object:
        budget = self.cleaned_data["monthly_budget"]
        if budget is not None and budget < 0:
            raise forms.ValidationError("A budget cannot be negative.")
        return budget


class ProjectEditForm(ProjectForm):
    """The project edit page's form: the Projects page's fields plus the approval thresholds
    (the approvals app holds a member's task or batch estimated above them for an admin)."""

    class Meta(ProjectForm.Meta):
        fields = [*ProjectForm.Meta.fields, "approval_task_credits", "approval_batch_credits"]
        labels = {
            **ProjectForm.Meta.labels,
            "approval_task_credits": "Approval above (credits per task)",
            "approval_batch_credits": "Approval above (credits per batch)",
        }
        help_texts = {
            **ProjectForm.Meta.help_texts,
            "approval_task_credits": "A member's task estimated above this waits for an "
            "admin's approval before anything is sent. Leave empty for no approval.",
            "approval_batch_credits": "The same for a whole batch of tasks. Leave empty for "
            "no approval.",
        }

    def _threshold(self, name: str) -> object:
        value = self.cleaned_data[name]
        if value is not None and value < 0:
            raise forms.ValidationError("A threshold cannot be negative.")
        return value

    def clean_approval_task_credits(self) -> object:
        return self._threshold("approval_task_credits")

    def clean_approval_batch_credits(self) -> object:
        return self._threshold("approval_batch_credits")
