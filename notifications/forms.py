from django import forms

from notifications.models import Preference


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = Preference
        fields = ["email", "browser", "on_finished", "on_failed", "on_late"]
        labels = {
            "email": "E-mail",
            "browser": "Browser notifications",
            "on_finished": "A task of mine finished",
            "on_failed": "A task of mine failed, or some of its targets did",
            "on_late": "A target of mine is late",
        }
        help_texts = {
            "email": "Sent to the address of your account.",
            "browser": "Shown while a shakeweb tab is open, once this browser allows it.",
            "on_finished": "",
            "on_failed": "The notice names the targets that failed.",
            "on_late": "",
        }
