"""Fixtures of the batch tests: the task tests' catalogue, clients and asset factory (reused,
not copied), and the batch form's POST body."""

import uuid
from collections.abc import Sequence
from typing import Any

from accounts.models import Project
from jobs.models import Asset
from tests.tasks.conftest import (  # noqa: F401 (fixtures)
    admin_client,
    catalogue,
    make_asset,
    member_client,
    viewer_client,
)

KARAOKE = "builtin:karaoke"  # vocals + instrumental, 1 credit a minute each


def batch_body(
    *,
    assets: Sequence[Asset],
    project: Project,
    token: uuid.UUID | str | None = None,
    step: str = "confirm",
    name: str = "Album sessions",
    preset: str = KARAOKE,
    **extra: Any,
) -> dict[str, Any]:
    """The batch form's POST body, as the confirmation page posts it."""
    return {
        "batch_token": str(token or uuid.uuid4()),
        "name": name,
        "project": str(project.pk),
        "preset": preset,
        "metadata": "",
        "asset": [str(a.pk) for a in assets],
        "step": step,
        **extra,
    }
