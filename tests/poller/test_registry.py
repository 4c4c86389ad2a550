"""The engine's table: every kind of work item has exactly one handler, put there by its app."""

import pytest

from costs import handlers as costs_handlers
from jobs.engine import registry
from jobs.handlers import task_submit
from jobs.models import WorkItem


def test_every_kind_of_work_item_has_a_handler() -> None:
    assert registry.kinds() == sorted(WorkItem.Kind.values)
    assert registry.handler_for(WorkItem.Kind.TASK_SUBMIT) is task_submit.task_submit
    assert registry.handler_for(WorkItem.Kind.USAGE_REFRESH) is costs_handlers.usage_refresh
    assert registry.handler_for("no_such_kind") is None


def test_a_second_handler_for_a_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="already have a handler"):
        registry.register(WorkItem.Kind.TASK_SUBMIT, costs_handlers.usage_refresh)
    registry.register(WorkItem.Kind.TASK_SUBMIT, task_submit.task_submit)  # the same: fine
    assert registry.handler_for(WorkItem.Kind.TASK_SUBMIT) is task_submit.task_submit
