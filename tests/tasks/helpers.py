"""Helpers of the task tests."""

import uuid
from collections.abc import Sequence
from typing import Any

from accounts.models import Project
from jobs.models import Asset

DURATION = 200.53  # the contract's example: ceil(200.53 / 60) = 4 billable minutes


def form_body(
    *,
    asset: Asset | None = None,
    url_asset: Asset | None = None,
    project: Project | None = None,
    metadata: str = "",
    targets: Sequence[dict[str, Any]] = ({"model": "vocals", "formats": ["wav"]},),
    token: uuid.UUID | str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The create form's POST body, as the browser sends it."""
    body: dict[str, Any] = {
        "form_token": str(token or uuid.uuid4()),
        "asset": str(asset.pk) if asset else "",
        "url_asset": str(url_asset.pk) if url_asset else "",
        "project": str(project.pk) if project else "",
        "metadata": metadata,
        "row": [str(index) for index in range(len(targets))],
    }
    for index, target in enumerate(targets):
        for key, value in target.items():
            if key == "residual":
                if value:
                    body[f"t{index}-residual"] = "on"
            else:
                body[f"t{index}-{key}"] = value
    body.update(extra)
    return body
