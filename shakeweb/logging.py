"""Logging filters used by settings.LOGGING."""

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """A 4xx is the user's request, not a bug: log it in one line (Django attaches the
    PermissionDenied/Http404 traceback to `django.request` records). 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if 400 <= getattr(record, "status_code", 0) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
