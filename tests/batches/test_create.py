"""Creating a batch from assets chosen in the library: one confirmation, one task per asset,
one batch per form token, the budget checked for the whole batch."""

import re
import threading
import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from accounts.models import Project, User
from audit.models import AuditEvent
from batches.models import Batch, BatchTask
from batches.presets import preset_resolve
from batches.services import BatchItem, batch_create, item_token
from jobs.catalogue import Catalogue
from jobs.models import Asset, Task, WorkItem
from jobs.services.tasks import BudgetExceeded
from tests.assets.media import wav_bytes
from tests.batches.conftest import batch_body

pytestmark = pytest.mark.django_db


def test_form_lists_the_chosen_assets(member_client: Client, make_asset, project: Project) -> None:
    """`/batches/new/?asset=…` names each chosen asset and carries it as a hidden field."""
    a, b = make_asset(name="One.wav"), make_asset(name="Two.wav")
    response = member_client.get(f"/batches/new/?asset={a.pk}&asset={b.pk}")
    text = response.content.decode()
    assert response.status_code == 200
    assert "New batch: 2 assets" in text
    assert "One.wav" in text
    assert "Two.wav" in text
    assert f'name="asset" value="{b.pk}"' in text


def test_review_shows_the_total_and_creates_nothing(
    member_client: Client, make_asset, project: Project
) -> None:
    """The review step shows each task's estimate, the total and the budget; no row is written."""
    assets = [make_asset(name=f"Song {n}.wav") for n in range(3)]
    response = member_client.post(
        "/batches/new/", batch_body(assets=assets, project=project, step="review")
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "3 tasks, 24 credits" in text  # 3 x (vocals + instrumental) x 4 minutes
    assert "This batch: 24 credits. Spent this month: 0 of 1000" in text
    assert Batch.objects.count() == 0
    assert Task.objects.count() == 0


def test_double_submit_creates_one_batch_and_one_task_per_asset(
    member_client: Client, make_asset, project: Project
) -> None:
    """The same confirmation posted twice gives one batch of N tasks; the second lands on it."""
    assets = [make_asset(name=f"Song {n}.wav") for n in range(4)]
    body = batch_body(assets=assets, project=project)
    first = member_client.post("/batches/new/", body)
    second = member_client.post("/batches/new/", body)
    batch = Batch.objects.get()
    assert first.status_code == second.status_code == 302
    assert first.url == second.url == batch.get_absolute_url()
    assert Task.objects.count() == 4
    assert BatchTask.objects.filter(batch=batch).count() == 4
    assert {t.source_asset_id for t in Task.objects.all()} == {a.pk for a in assets}
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count() == 4
    assert sorted(t.targets.count() for t in Task.objects.all()) == [2, 2, 2, 2]
    assert batch.preset == "Karaoke"
    assert [t["model"] for t in batch.targets] == ["vocals", "instrumental"]


def test_each_task_token_comes_from_the_batch_token(
    member: User, make_asset, project: Project, catalogue: Catalogue
) -> None:
    """Two calls with one batch token give one batch; each task's form token is derived
    from the batch token and its row."""
    token = uuid.uuid4()
    chosen = preset_resolve("builtin:karaoke", catalogue)
    items = [
        BatchItem(project=project, targets=chosen.targets, asset=make_asset()) for _ in range(3)
    ]
    kwargs = {"name": "B", "token": token, "items": items, "user": member, "project": project}
    first = batch_create(**kwargs, catalogue=catalogue)
    again = batch_create(**kwargs, catalogue=catalogue)
    assert first.created is True
    assert again.created is False
    assert again.batch == first.batch
    tokens = set(Task.objects.values_list("form_token", flat=True))
    assert tokens == {item_token(batch_token=token, position=n) for n in range(3)}


def test_over_budget_batch_is_refused_before_and_at_submit(
    member_client: Client, make_asset, project: Project
) -> None:
    """A batch that would take the project over its budget is refused at review and at
    submit for a member, and nothing is created."""
    Project.objects.filter(pk=project.pk).update(monthly_budget=Decimal(20))
    assets = [make_asset(name=f"Song {n}.wav") for n in range(3)]  # 24 credits
    for step in ("review", "confirm"):
        response = member_client.post(
            "/batches/new/", batch_body(assets=assets, project=project, step=step)
        )
        text = response.content.decode()
        assert response.status_code == 200
        assert "Over budget in Demo album" in text
        assert "after this batch: 24 of 20, 120 %" in text
    assert Batch.objects.count() == 0
    assert Task.objects.count() == 0


def test_budget_running_out_midway_creates_nothing(
    member: User, make_asset, project: Project, catalogue: Catalogue
) -> None:
    """When the budget fits the first tasks but not the last, no task and no batch is kept."""
    Project.objects.filter(pk=project.pk).update(monthly_budget=Decimal(20))
    project.refresh_from_db()
    chosen = preset_resolve("builtin:karaoke", catalogue)
    items = [
        BatchItem(project=project, targets=chosen.targets, asset=make_asset()) for _ in range(3)
    ]
    with pytest.raises(BudgetExceeded):
        batch_create(
            name="B",
            token=uuid.uuid4(),
            items=items,
            user=member,
            project=project,
            catalogue=catalogue,
        )
    assert Batch.objects.count() == 0
    assert Task.objects.count() == 0
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).exists(), list(
        WorkItem.objects.values("kind", "key")
    )


def test_admin_can_override_the_budget(admin_client: Client, make_asset, project: Project) -> None:
    """An admin sees the override on the confirmation; ticked, the batch is created and the
    task that passes the budget records the override (the first fits within it)."""
    Project.objects.filter(pk=project.pk).update(monthly_budget=Decimal(10))
    assets = [make_asset(name=f"Song {n}.wav") for n in range(2)]
    review = admin_client.post(
        "/batches/new/", batch_body(assets=assets, project=project, step="review")
    )
    assert "Override the budget for this batch" in review.content.decode()
    body = batch_body(assets=assets, project=project, budget_override="1")
    assert admin_client.post("/batches/new/", body).status_code == 302
    assert Task.objects.count() == 2
    overridden = Task.objects.filter(budget_override_by__isnull=False)
    assert [t.source_name for t in overridden] == ["Song 1.wav"]


def test_bad_input_gets_messages_not_errors(
    member_client: Client, project: Project, make_asset
) -> None:
    """No asset, an unknown asset, no name, a preset that does not exist, a bad token: the
    form again with its messages, never a 500, nothing created."""
    asset = make_asset()
    cases = [
        ({"asset": []}, "Choose at least one asset in the library."),
        ({"asset": ["999999"]}, "An asset chosen is not in the library"),
        ({"asset": ["x" * 5000]}, "An asset chosen is not in the library"),
        ({"name": ""}, "Give the batch a name."),
        ({"metadata": "m" * 5000}, "Metadata is 5000 characters long; at most"),
        ({"preset": "team:99999"}, "That preset does not exist"),
        ({"batch_token": "not-a-token"}, "This form had no valid token"),
    ]
    for change, message in cases:
        body = {**batch_body(assets=[asset], project=project), **change}
        response = member_client.post("/batches/new/", body)
        assert response.status_code == 200, change
        assert message in response.content.decode(), change
    assert Task.objects.count() == 0


def test_viewer_is_refused_creating_but_sees_batches(
    viewer_client: Client, member: User, make_asset, project: Project, catalogue: Catalogue
) -> None:
    """A viewer cannot open the batch form or post it (403), and can read the list and pages."""
    asset = make_asset()
    assert viewer_client.get(f"/batches/new/?asset={asset.pk}").status_code == 403
    assert (
        viewer_client.post("/batches/new/", batch_body(assets=[asset], project=project)).status_code
        == 403
    )
    assert viewer_client.post("/batches/manifest/", {}).status_code == 403
    assert Task.objects.count() == 0
    chosen = preset_resolve("builtin:karaoke", catalogue)
    items = [BatchItem(project=project, targets=chosen.targets, asset=asset)]
    batch = batch_create(
        name="B", token=uuid.uuid4(), items=items, user=member, project=project, catalogue=catalogue
    ).batch
    assert viewer_client.get("/batches/").status_code == 200
    assert viewer_client.get(batch.get_absolute_url()).status_code == 200


def test_library_offers_the_selection_to_members_only(
    member_client: Client, viewer_client: Client, make_asset
) -> None:
    """Members get a checkbox per asset and the batch button; viewers get neither."""
    asset = make_asset(name="Tick me.wav")
    member_page = member_client.get("/assets/").content.decode()
    viewer_page = viewer_client.get("/assets/").content.decode()
    assert f'name="asset" value="{asset.pk}" form="batch-select"' in member_page
    assert "Create batch from selected" in member_page
    assert 'form="batch-select"' not in viewer_page
    assert "Create batch from" not in viewer_page


def test_plain_upload_of_many_files_offers_their_batch(
    member_client: Client, project: Project, settings, tmp_path
) -> None:
    """Without JavaScript, the upload page's results link to the batch form of every file
    just uploaded, and that form lists them."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    files = [
        SimpleUploadedFile(f"Take {n}.wav", wav_bytes(seconds=1 + n / 10), content_type="audio/wav")
        for n in range(3)
    ]
    page = member_client.post(
        "/assets/upload/", {"project": project.pk, "rights": "on", "files": files}
    )
    link = re.search(
        r'href="(/batches/new/\?[^"]+)">Create a batch with these files', page.content.decode()
    )
    assert link is not None
    pks = sorted(Asset.objects.values_list("pk", flat=True))
    assert len(pks) == 3
    form = member_client.get(link.group(1).replace("&amp;", "&")).content.decode()
    assert "New batch: 3 assets" in form
    assert all(f"Take {n}.wav" in form for n in range(3))


@pytest.mark.django_db(transaction=True)
def test_two_tabs_submitting_one_batch_at_once_make_it_once(
    member: User, make_asset, project: Project, catalogue: Catalogue
) -> None:
    """The same confirmation posted from two tabs at the same moment: one batch of N tasks,
    and both land on it."""
    assets = [make_asset(name=f"Song {n}.wav") for n in range(5)]
    body = batch_body(assets=assets, project=project)
    barrier = threading.Barrier(2)
    locations: list[str] = []

    def submit() -> None:
        try:
            client = Client()
            client.force_login(member)
            barrier.wait(timeout=10)
            locations.append(client.post("/batches/new/", body)["Location"])
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    batch = Batch.objects.get()
    assert locations == [batch.get_absolute_url()] * 2
    assert Task.objects.count() == 5
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count() == 5


def test_an_asset_that_cannot_be_sent_is_named_with_its_reason(
    member_client: Client, make_asset, project: Project
) -> None:
    """An expired upload without a local copy gets the task form's own reason, and the batch
    is not created."""
    good = make_asset(name="Fine.wav")
    gone = make_asset(name="Gone.wav", expired=True, local=False)
    response = member_client.post("/batches/new/", batch_body(assets=[good, gone], project=project))
    assert response.status_code == 200
    assert (
        "“Gone.wav” expired on AudioShake and no local copy was kept" in response.content.decode()
    )
    assert Task.objects.count() == 0


def test_batch_tasks_are_audited_once(member_client: Client, make_asset, project: Project) -> None:
    """Each task of a batch is one `task_submitted` event; the second submit adds none."""
    assets = [make_asset(name=f"Song {n}.wav") for n in range(3)]
    body = batch_body(assets=assets, project=project)
    member_client.post("/batches/new/", body)
    member_client.post("/batches/new/", body)
    events = AuditEvent.objects.filter(action="task_submitted")
    assert sorted(int(e.object_id) for e in events) == sorted(
        Task.objects.values_list("pk", flat=True)
    )
    assert events.count() == 3
    assert {e.actor_id for e in events} == {Task.objects.first().created_by_id}
