"""Fixtures of the batch tests: the task tests' catalogue, clients and asset factory (reused,
not copied), and the batch form's POST body."""

import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from accounts.models import Project, User
from batches.models import Batch
from batches.presets import preset_resolve
from batches.services import BatchItem, batch_create
from jobs.catalogue import Catalogue
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


@pytest.fixture
def make_batch(member: User, project: Project, catalogue: Catalogue, make_asset):  # noqa: F811
    def make(n: int = 3, name: str = "Album sessions") -> Batch:
        chosen = preset_resolve("builtin:karaoke", catalogue)
        items = [
            BatchItem(
                project=project, targets=chosen.targets, asset=make_asset(name=f"Song {i}.wav")
            )
            for i in range(n)
        ]
        return batch_create(
            name=name,
            token=uuid.uuid4(),
            items=items,
            user=member,
            project=project,
            catalogue=catalogue,
        ).batch

    return make
