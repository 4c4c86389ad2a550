"""`manage.py sandbox_worker`: the sandbox's processing loop (started by `make run`)."""

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sandbox.worker import run_once


class Command(BaseCommand):
    help = "Process the sandbox's targets with real DSP and send its webhooks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="One pass over what is due, then exit"
        )
        parser.add_argument(
            "--sleep", type=float, default=0.5, help="Seconds to wait when nothing was due"
        )

    def handle(self, *args: Any, once: bool, sleep: float, **options: Any) -> None:
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self.stdout.write(f"sandbox worker: signal {signum}, stopping after this pass")
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.stdout.write("sandbox worker: started")
        try:
            while True:
                finished = run_once()
                if finished:
                    self.stdout.write(f"sandbox worker: {finished} target(s) finished")
                if once or stop.is_set():
                    break
                if not finished:
                    stop.wait(sleep)
                if stop.is_set():
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("sandbox worker: stopped")
