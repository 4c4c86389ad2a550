"""Log lines: a refused request is one line, a server error keeps its traceback."""

import logging

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.utils.log import log_response

from shakeweb.logging import ClientErrorsWithoutTraceback


def _record(status: int) -> logging.LogRecord:
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    logger = logging.getLogger("tests.client_errors")  # not configured: only our handler sees it
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    try:
        from django.http import HttpResponse

        try:
            raise PermissionDenied("no")
        except PermissionDenied as exc:
            log_response(
                "x",
                response=HttpResponse(status=status),
                request=RequestFactory().get("/"),
                exception=exc,
                logger=logger,
            )
    finally:
        logger.removeHandler(handler)
    return captured[0]


@pytest.mark.parametrize(("status", "traceback"), [(403, False), (404, False), (500, True)])
def test_tracebacks_only_for_server_errors(status, traceback):
    """4xx records lose their traceback; 5xx keep it."""
    record = _record(status)
    assert record.exc_info is not None  # Django attached one: the filter has something to do
    ClientErrorsWithoutTraceback().filter(record)
    assert (record.exc_info is not None) is traceback
