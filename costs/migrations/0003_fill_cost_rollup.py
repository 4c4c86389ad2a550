"""Fill the rollup of an existing database from its ledger (`costs.rollup.rollup_rebuild`,
on this migration's models)."""

from django.db import migrations


def fill(apps, schema_editor):
    from costs.rollup import rollup_rebuild  # lazy: a migration runs with the apps loaded

    rollup_rebuild(
        target_model=apps.get_model("jobs", "Target"),
        task_model=apps.get_model("jobs", "Task"),
        rollup_model=apps.get_model("costs", "CostRollup"),
        membership_model=apps.get_model("costs", "CostRollupTask"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0002_cost_rollup"),
        ("jobs", "0005_task_progress_columns"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop, elidable=True)]
