"""The storage that keeps mirrored outputs: `STORAGES["outputs"]` (local files by default,
S3 or any Django storage when configured), resolved on first use and again whenever the
STORAGES setting changes (tests point it at a temporary folder)."""

from typing import Any

from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class OutputsStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = storages["outputs"]


outputs = OutputsStorage()


@receiver(setting_changed)
def _forget_outputs_storage(*, setting: str, **kwargs: Any) -> None:
    if setting in ("STORAGES", "MEDIA_ROOT"):
        outputs._wrapped = empty
