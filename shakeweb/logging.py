"""Logging filters used by settings.LOGGING."""

import logging
import re


class ClientErrorsWithoutTraceback(logging.Filter):
    """A 4xx is the user's request, not a bug: log it in one line (Django attaches the
    PermissionDenied/Http404 traceback to `django.request` records). 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if 400 <= getattr(record, "status_code", 0) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


# A webhook path that carries the secret: /webhooks/audioshake/<secret>/ (jobs/views/webhooks.py).
SECRET_PATH_RE = re.compile(r"(/webhooks/audioshake/)[^/\s\"'?#]+")
REDACTED = "<redacted>"


def redact(text: str) -> str:
    """`text` with every secret-bearing webhook path, and the configured secret, replaced."""
    text = SECRET_PATH_RE.sub(rf"\g<1>{REDACTED}", text)
    secret = _webhook_secret()
    return text.replace(secret, REDACTED) if secret else text


def _webhook_secret() -> str:
    try:
        from django.conf import settings  # lazy: gunicorn's master loads this before Django

        return settings.AUDIOSHAKE_WEBHOOK_SECRET if settings.configured else ""
    except Exception:  # settings that cannot load yet: the path pattern still applies
        return ""


class RedactSecrets(logging.Filter):
    """Rewrite a record's message without the webhook secret: Django's 4xx/5xx warnings
    (`django.request`), runserver's request lines (`django.server`) and gunicorn's access and
    error logs (shakeweb.gunicorn_logging) all name the request path."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
