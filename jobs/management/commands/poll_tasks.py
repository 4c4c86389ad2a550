"""`manage.py poll_tasks`: run the poller (see jobs/engine/ and docs/architecture.md).

    manage.py poll_tasks                 # loop until SIGTERM/SIGINT
    manage.py poll_tasks --once          # one cycle: claim a batch, run it, exit
    manage.py poll_tasks --name web-1 --batch 10

Stopping: the first SIGTERM/SIGINT finishes the item in hand (or, if it is still running after
POLLER_STOP_GRACE_SECONDS, gives its lease back) and exits; idle, it exits at once. A second
signal exits immediately; leases then simply expire.
"""

import os
import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from jobs.engine.leases import lease_release
from jobs.engine.loop import Poller, default_name


class Command(BaseCommand):
    help = "Carry out the work items (uploads, task submissions, refreshes, downloads)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one cycle, then exit.")
        parser.add_argument("--name", default="", help="This poller's name (default host-pid).")
        parser.add_argument(
            "--batch", type=int, default=0, help="Items claimed per cycle (POLLER_BATCH_SIZE)."
        )

    def handle(self, *args: Any, once: bool, name: str, batch: int, **options: Any) -> None:
        if batch < 0:
            batch = 0
        poller = Poller(
            name=(name or default_name())[:100],
            batch=batch,
            emit=lambda line: self.stdout.write(line),
        )
        if threading.current_thread() is threading.main_thread():
            self._install_signals(poller)
        poller.run(once=once)

    def _install_signals(self, poller: Poller) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            if poller.stop.is_set():
                self.stdout.write(f"poller={poller.name} event=exit reason=second-signal")
                self.stdout.flush()
                os._exit(1)
            poller.stop.set()
            self.stdout.write(f"poller={poller.name} event=stopping signal={signum}")
            watchdog = threading.Thread(target=self._watchdog, args=(poller,), daemon=True)
            watchdog.start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _watchdog(self, poller: Poller) -> None:
        """If the item in hand (a long upload, a slow answer) outlasts the grace period, give
        back what we hold and leave: a task being submitted is `submitting` already and is
        reconciled by the next poller, never sent twice."""
        grace = settings.POLLER_STOP_GRACE_SECONDS
        threading.Event().wait(grace)
        held = poller.keeper.held()
        try:
            released = lease_release(held) if held else 0
        except Exception:  # the database is unreachable: the leases will expire on their own
            released = 0
        finally:
            connections.close_all()
        self.stdout.write(
            f"poller={poller.name} event=exit reason=grace-expired released={released}"
        )
        self.stdout.flush()
        os._exit(0)
