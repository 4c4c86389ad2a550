"""`manage.py audioshake_probe`: three free GETs (`/models`, `/tasks?take=1`,
`/tasks/statistics?name=usage`) through the dashboard's client, each answer compared with the
shape the parsers assume (`jobs/audioshake/shapes.py`): container, fields present, missing and
extra, JSON types. Nothing is created and no credit is spent.

Exit status: 0 when every endpoint answered; 1 when the API could not be talked to (no key,
key refused, no HTTP answer), with the reason; 2 when it answered but an endpoint returned an
error (a 5xx, a body that is not JSON...), reported with the others.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs.audioshake import AudioShakeError, AuthenticationError, Unavailable, get_client
from jobs.audioshake.shapes import PROBES, ProbeReport, ShapeReport, probe_compare


def _names(rows: list[str]) -> str:
    return ", ".join(rows) if rows else "none"


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = (
        "Compare the shapes the AudioShake API really returns (GET /models, GET /tasks?take=1, "
        "GET /tasks/statistics?name=usage) with what the dashboard assumes. Spends no credit."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--retries", type=int, default=1, help="Retries per request (default 1)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base = settings.AUDIOSHAKE_BASE_URL
        try:
            client = get_client(max_retries=options["retries"])
        except AuthenticationError as exc:
            raise CommandError(f"Cannot probe {base}: {exc.message}.", returncode=1) from exc
        which = (
            "" if settings.AUDIOSHAKE_API_KEY else " (the sandbox: AUDIOSHAKE_API_KEY is not set)"
        )
        self.stdout.write(f"Probing {base}{which} (read-only GETs, no credit spent)")
        failed = []
        with client:
            for probe in PROBES:
                try:
                    data = client.read_json(probe.path, params=dict(probe.params))
                except AuthenticationError as exc:
                    raise CommandError(
                        f"AudioShake at {base} refused the key: {exc}", returncode=1
                    ) from exc
                except Unavailable as exc:
                    if exc.status_code is None:  # no HTTP answer: connection, timeout
                        raise CommandError(
                            f"Cannot reach AudioShake at {base}: {exc}", returncode=1
                        ) from exc
                    self.stdout.write(f"\n{probe.label}: error: {exc}")
                    failed.append(probe.label)
                except AudioShakeError as exc:
                    self.stdout.write(f"\n{probe.label}: error: {exc}")
                    failed.append(probe.label)
                    continue
                self._print(probe_compare(probe, data))
        if failed:
            raise CommandError(
                f"AudioShake answered, but with an error for: {', '.join(failed)}", returncode=2
            )
        self.stdout.write(self.style.SUCCESS("\nAll endpoints answered."))

    def _print(self, result: ProbeReport) -> None:
        mark = "as assumed" if result.container_as_assumed else "DIFFERS"
        self.stdout.write(f"\n{result.probe.label}: {result.container} [{mark}]")
        if result.not_objects:
            self.stdout.write(f"  {result.not_objects} items are not JSON objects")
        self._shape(result.report, indent="  ")

    def _shape(self, report: ShapeReport, *, indent: str) -> None:
        out = self.stdout.write
        out(f"{indent}{report.shape.what}: {report.items} item(s)")
        if not report.items:
            out(f"{indent}  (nothing to compare)")
            return
        out(f"{indent}  present: {_names(report.present)}")
        missing = [
            f"{f.name} ({n} of {report.items}{', NEEDED' if f.needed else ''})"
            for f, n in report.missing
        ]
        out(f"{indent}  missing: {_names(missing)}")
        undocumented = report.undocumented_read
        if undocumented:
            out(f"{indent}  undocumented, read when sent: {_names(undocumented)}")
        extra = [f"{name} ({n} of {report.items})" for name, n in report.extra]
        out(f"{indent}  extra (not read by the dashboard): {_names(extra)}")
        types = [
            f"{name}: {'/'.join(seen)} (assumed {'/'.join(assumed)})"
            for name, seen, assumed in report.type_differences
        ]
        out(f"{indent}  type differences: {_names(types)}")
        for nested in report.nested:
            self._shape(nested, indent=indent + "  ")
