"""`make run`'s first-run helper: a demo admin with a random password, and a first project.

Development only (DEBUG=1). Idempotent: the admin is created once, its password is written to
var/demo-login.txt (mode 0600) and every later run prints the log-in line from that file."""

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import Project, Role, User

USERNAME = "demo"


def login_file_write(path: Path, *, username: str, password: str) -> None:
    """Write the file readable by its owner only, replacing any older one atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"username={username}\npassword={password}\n")
    os.replace(tmp, path)


def login_file_read(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


class Command(BaseCommand):
    help = "Development only: create the demo admin (random password) and a Demo project once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--login-file",
            type=Path,
            default=None,
            help="Where the demo password is kept (default: var/demo-login.txt).",
        )

    def handle(self, *args: Any, login_file: Path | None, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "demo_setup only runs with DEBUG=1 (development): it creates an admin account. "
                "In production create your first admin with 'manage.py createsuperuser'."
            )
        path = login_file or Path(settings.VAR_DIR) / "demo-login.txt"
        self._ensure_admin(path)
        self._ensure_project()
        saved = login_file_read(path)
        user = User.objects.filter(username=USERNAME).first()
        if user and saved.get("password") and user.check_password(saved["password"]):
            self.stdout.write(
                self.style.SUCCESS(
                    f"Log in at {settings.SITE_URL}/accounts/login/ as {USERNAME} / "
                    f"{saved['password']}"
                )
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"The {USERNAME} account's password was changed since it was created, so "
                    f"{path} no longer holds it. Log in at {settings.SITE_URL}/accounts/login/ "
                    f"with your own password, or set a new one with "
                    f"'manage.py changepassword {USERNAME}'."
                )
            )

    def _ensure_admin(self, path: Path) -> None:
        if User.objects.filter(username=USERNAME).exists():
            return
        password = secrets.token_urlsafe(12)
        # The file first: if creating the user fails, the next run writes a new one.
        login_file_write(path, username=USERNAME, password=password)
        with transaction.atomic():
            User.objects.create_user(
                username=USERNAME,
                password=password,
                email="demo@localhost",
                first_name="Demo",
                last_name="Admin",
                role=Role.ADMIN,
                is_staff=True,
                is_superuser=True,
            )
        self.stdout.write(f"Created the demo admin '{USERNAME}' (password saved in {path}).")

    def _ensure_project(self) -> None:
        if Project.objects.exists():
            return
        Project.objects.get_or_create(code="demo", defaults={"name": "Demo"})
        self.stdout.write("Created the project 'Demo'.")
