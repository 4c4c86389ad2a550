"""`manage.py rebuild_cost_rollup`: rebuild the Costs page's monthly rollup from the ledger.

The rollup is kept in step by every code path that changes a target (`costs.rollup`); this
puts it right after anything that went around them (a fixture loaded raw, SQL run by hand,
a restore). One transaction: the page reads the old rollup until the new one is committed."""

from typing import Any

from django.core.management.base import BaseCommand

from costs.rollup import rollup_rebuild


class Command(BaseCommand):
    help = "Rebuild the Costs page's monthly rollup (costs.CostRollup) from the ledger."

    def handle(self, *args: Any, **options: Any) -> None:
        rows, tasks = rollup_rebuild()
        self.stdout.write(f"Rebuilt the cost rollup: {rows} rows from {tasks} tasks.")
