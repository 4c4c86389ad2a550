"""`manage.py export_costs`: the Costs page's CSV export, for cron and very large periods."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from costs.export import costs_csv, csv_write
from costs.forms import CostFilterForm, ExportOptionsForm
from costs.services import GROUP_BY_CHOICES


class Command(BaseCommand):
    # No system checks: cron runs this often, and an export only reads the ledger.
    requires_system_checks: list[str] = []
    help = (
        "Write the cost ledger as CSV (one row per target, or a summary per group), with the "
        "Costs page's filters. Without --from/--to: this month and the eleven before it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--from", dest="date_from", help="First day, YYYY-MM-DD (UTC)")
        parser.add_argument("--to", dest="date_to", help="Last day, YYYY-MM-DD (UTC), inclusive")
        parser.add_argument("--project", help="Project code")
        parser.add_argument("--member", help="Username of the member who submitted")
        parser.add_argument("--model", help="Model key, e.g. vocals")
        parser.add_argument("--status", help="Target status, or charged_error")
        parser.add_argument(
            "--group-by",
            choices=[key for key, _ in GROUP_BY_CHOICES],
            help="A summary per group instead of one row per target",
        )
        parser.add_argument("--bom", action="store_true", help="Start with a UTF-8 BOM (Excel)")
        parser.add_argument("-o", "--output", help="File to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        data = {
            key: options[key]
            for key in ("date_from", "date_to", "project", "member", "model", "status")
            if options[key]
        }
        form = CostFilterForm(data, today=timezone.now().date())
        export = ExportOptionsForm(
            {"group_by": options["group_by"] or "", "bom": "on" if options["bom"] else ""}
        )
        if not (form.is_valid() and export.is_valid()):
            problems = [
                f"{'--' + name.replace('date_', '') if name != '__all__' else 'filters'}: {msg}"
                for errors in (form.errors, export.errors)
                for name, messages in errors.items()
                for msg in messages
            ]
            raise CommandError("; ".join(problems))
        chunks = costs_csv(
            filters=form.filters(),
            group_by=export.cleaned_data["group_by"] or None,
            bom=export.cleaned_data["bom"],
        )
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as stream:
                csv_write(chunks, stream)
        else:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
