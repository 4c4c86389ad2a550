"""The handlers: one module per kind of work item, each `handler(lease, client) -> Outcome`.

Every write of a result goes through `settle`/`fenced` (jobs.engine.leases), so it lands only
while this poller still holds the item; no handler calls AudioShake inside a database
transaction. `register_handlers()` (from `JobsConfig.ready`) puts them in the engine's registry;
the costs app registers its own (`costs.handlers`). Design: docs/architecture.md."""

from jobs.engine import registry
from jobs.handlers import asset_forward, catalogue_sync, output_download, task_refresh, task_submit
from jobs.models import WorkItem


def register_handlers() -> None:
    registry.register(WorkItem.Kind.ASSET_FORWARD, asset_forward.asset_forward)
    registry.register(WorkItem.Kind.TASK_SUBMIT, task_submit.task_submit)
    registry.register(WorkItem.Kind.TASK_REFRESH, task_refresh.task_refresh)
    registry.register(WorkItem.Kind.OUTPUT_DOWNLOAD, output_download.output_download)
    registry.register(WorkItem.Kind.CATALOGUE_SYNC, catalogue_sync.catalogue_sync)
    registry.on_poller_start("catalogue_sync", catalogue_sync.arm)
