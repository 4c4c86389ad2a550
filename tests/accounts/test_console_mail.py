"""The development mailer prints invitation and reset links whole, so a link copied from the
terminal opens the set-password page."""

import io
import os
import re
import subprocess
import sys

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend
from django.test import Client

from accounts.models import User
from accounts.services import invitation_link
from shakeweb.mail import ConsoleBackend

SITE = "https://shakeweb.studio-with-a-long-name.example.com"


def printed(backend_class: type, message: EmailMessage) -> str:
    stream = io.StringIO()
    backend_class(stream=stream).send_messages([message])
    return stream.getvalue()


def invitation(link: str) -> EmailMessage:
    body = f"Ada invited you to shakeweb (café team).\n\nSet your password: {link}\n"
    return EmailMessage(subject="Your invitation", body=body, to=["nina@example.com"])


def test_console_mailer_prints_the_link_whole(member: User) -> None:
    """Django's console backend cuts a long link (quoted-printable); ours prints it as is."""
    link = invitation_link(user=member, site_url=SITE)
    assert len(link) > 78
    assert link not in printed(DjangoConsoleBackend, invitation(link))  # why this exists
    out = printed(ConsoleBackend, invitation(link))
    assert link in out
    assert "Subject: Your invitation" in out
    assert "To: nina@example.com" in out
    assert "café" in out


def test_printed_link_opens_the_set_password_page(client: Client, member: User) -> None:
    """The link as printed, opened in a browser, asks for a new password (not 'already used')."""
    out = printed(ConsoleBackend, invitation(invitation_link(user=member, site_url=SITE)))
    path = re.search(re.escape(SITE) + r"(/\S+)", out).group(1)
    page = client.get(path, follow=True)
    assert "Choose a new password" in page.content.decode()


def test_console_is_the_default_mailer_without_email_url() -> None:
    """With no EMAIL_URL the settings choose this mailer (a fresh interpreter, no overrides)."""
    env = {k: v for k, v in os.environ.items() if k != "EMAIL_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "shakeweb.test_settings"
    code = "from django.conf import settings; print(settings.MAILERS['default']['BACKEND'])"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
        check=True,
    )
    assert result.stdout.strip() == "shakeweb.mail.ConsoleBackend"
