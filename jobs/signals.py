"""Signals the jobs app sends for other apps to keep their own derived tables (the costs
rollup) in step, without `jobs` importing them."""

from django.dispatch import Signal

# Sent by `jobs.progress.task_changed()` inside the transaction that changed a task, its
# targets or its outputs. Keyword arguments: `task_ids` (a tuple of Task pks). Receivers
# run in that same transaction: an exception in one rolls the change back.
task_changed = Signal()
