"""The development mailer: e-mails printed to the console as a person reads them.

Django's console backend prints the raw MIME message, where any line longer than 78 characters
(an invitation or password-reset link on a real host name) is quoted-printable encoded: cut
with `=` at the end of the line and `=3D` for every `=`. Copied from the terminal, such a link
opens "This link was already used or has expired". This backend prints the headers a reader
needs and the body as text, every line whole."""

from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend
from django.core.mail.message import EmailMessage


class ConsoleBackend(DjangoConsoleBackend):
    def write_message(self, message: EmailMessage) -> None:
        lines = [
            f"From: {message.from_email}",
            f"To: {', '.join(message.to)}",
            *([f"Cc: {', '.join(message.cc)}"] if message.cc else []),
            f"Subject: {message.subject}",
            "",
            message.body.rstrip("\n"),
        ]
        for _content, mimetype in getattr(message, "alternatives", []) or []:
            lines.append(f"[an alternative {mimetype} part is not shown]")
        for attachment in message.attachments:
            name = getattr(attachment, "filename", None) or attachment[0]
            lines.append(f"[attachment: {name}]")
        self.stream.write("\n".join(lines) + "\n" + "-" * 79 + "\n")
