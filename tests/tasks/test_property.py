"""Property: whatever is posted to the task form's endpoints, the answer is never a 500."""

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Project
from jobs.catalogue import Catalogue
from jobs.models import Asset

FIELDS = [
    "form_token",
    "asset",
    "url_asset",
    "project",
    "metadata",
    "row",
    "step",
    "add_row",
    "preset",
    "refresh_row",
    "save_preset",
    "preset_name",
    "budget_override",
    "rerun_of",
    "remove_row_0",
    "remove_row_x",
]
ROW_FIELDS = ["model", "formats", "variant", "residual", "language", "transcript_url"]
WORDS = [
    "",
    "0",
    "1",
    "-1",
    "review",
    "confirm",
    "edit",
    "vocals",
    "music_removal",
    "alignment",
    "transcription",
    "high_quality",
    "wav",
    "json",
    "en",
    "on",
    "builtin:full-band",
    "builtin:nope",
    "team:1",
    "team:x",
    "https://example.com/l.txt",
    "http://[::1",
    "9" * 30,
    "1e309",
    "00000000-0000-0000-0000-000000000000",
    "\x00",
    "x" * 5000,
]

keys = st.one_of(
    st.sampled_from(FIELDS),
    st.builds(
        lambda index, name: f"t{index}-{name}",
        st.one_of(st.integers(min_value=-2, max_value=25), st.text(max_size=3)),
        st.sampled_from(ROW_FIELDS),
    ),
    st.text(max_size=12),
)
values = st.lists(
    st.one_of(st.sampled_from(WORDS), st.text(max_size=40), st.integers().map(str)),
    min_size=1,
    max_size=3,
)
bodies = st.dictionaries(keys, values, max_size=25)


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    endpoint=st.sampled_from(["jobs:task_create", "jobs:task_rows", "jobs:task_estimate"]),
    htmx=st.booleans(),
)
def test_arbitrary_post_bodies_never_give_a_500(
    member_client: Client,
    catalogue: Catalogue,
    project: Project,
    ready_asset: Asset,
    body: dict[str, list[str]],
    endpoint: str,
    htmx: bool,
) -> None:
    """Random keys and values (valid ids, model keys, garbage, NULs, huge numbers): the views
    answer with a page, a fragment or a redirect, never a server error."""
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = member_client.post(reverse(endpoint), body, **headers)
    assert response.status_code in (200, 302), response.status_code
