from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import Project, Role, User
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

CODE_MESSAGE = (
    "Use only letters, digits, hyphens (-) and underscores (_) in the code, "
    "with no spaces or accents."
)


def test_admin_creates_a_project(admin_client: Client) -> None:
    """Name, code and budget create a project, listed with its budget."""
    response = admin_client.post(
        "/projects/", {"name": "Film X", "code": "Film-X", "monthly_budget": "250.5"}, follow=True
    )
    project = Project.objects.get()
    assert (project.name, project.code, project.monthly_budget) == (
        "Film X",
        "film-x",
        Decimal("250.50"),
    )
    assert not project.archived
    html = response.content.decode()
    assert "Project Film X was created." in html
    assert "250.50 credits" in html


def test_code_help_says_capitals_are_lower_cased(admin_client: Client) -> None:
    """The form says which characters a code takes and that it is saved in lower case, and
    never shows Django's "valid slug" wording."""
    html = admin_client.get("/projects/").content.decode()
    assert "saved in lower case" in html
    bad = admin_client.post("/projects/", {"name": "Other", "code": "no spaces"})
    assert "slug" not in bad.content.decode().lower()


def test_capitals_in_a_code_are_lower_cased_when_edited(
    admin_client: Client, project: Project
) -> None:
    """Editing a project lower-cases its code as well."""
    admin_client.post(f"/projects/{project.pk}/", {"name": "Demo album", "code": "Demo_2"})
    project.refresh_from_db()
    assert project.code == "demo_2"


def test_project_without_budget(admin_client: Client) -> None:
    """The budget is optional: empty means no budget."""
    response = admin_client.post("/projects/", {"name": "Podcast", "code": "pod"}, follow=True)
    assert Project.objects.get().monthly_budget is None
    assert "No budget" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "Demo album", "code": "other"}, "Another project already has this name."),
        ({"name": "Other", "code": "DEMO"}, "Another project already uses this code."),
        ({"name": "Other", "code": "no spaces"}, CODE_MESSAGE),
        ({"name": "Other", "code": "café"}, CODE_MESSAGE),
        ({"name": "Other", "code": "a.b"}, CODE_MESSAGE),
        ({"name": "Other", "code": "o", "monthly_budget": "-1"}, "A budget cannot be negative."),
        ({"name": "Other", "code": "o", "monthly_budget": "lots"}, "Enter a number."),
        ({"name": "", "code": "o"}, "This field is required."),
    ],
)
def test_invalid_project_is_refused_with_a_reason(
    admin_client: Client, project: Project, data: dict[str, str], message: str
) -> None:
    """Duplicates, bad codes and negative budgets re-render the form with the input kept."""
    response = admin_client.post("/projects/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert f'value="{data["code"]}"' in response.content.decode()
    assert Project.objects.count() == 1


def test_admin_edits_and_archives_a_project(admin_client: Client, project: Project) -> None:
    """The edit page changes every field, archiving included."""
    page = admin_client.get(f"/projects/{project.pk}/")
    assert 'value="Demo album"' in page.content.decode()
    response = admin_client.post(
        f"/projects/{project.pk}/",
        {"name": "Demo album 2", "code": "demo2", "monthly_budget": "", "archived": "on"},
    )
    assert response.url == "/projects/"
    project.refresh_from_db()
    assert (project.name, project.code, project.monthly_budget, project.archived) == (
        "Demo album 2",
        "demo2",
        None,
        True,
    )
    assert Project.objects.active().count() == 0


def test_invalid_edit_keeps_the_old_title(admin_client: Client, project: Project) -> None:
    """A refused edit shows the project's saved name as the title, and changes nothing."""
    Project.objects.create(name="Taken", code="taken")
    response = admin_client.post(f"/projects/{project.pk}/", {"name": "Taken", "code": "demo"})
    html = response.content.decode()
    assert "<h1>Demo album</h1>" in html
    assert "Another project already has this name." in html
    project.refresh_from_db()
    assert project.name == "Demo album"


def test_unknown_project_is_404(admin_client: Client) -> None:
    """Editing a project that does not exist answers 404."""
    assert admin_client.get("/projects/999999/").status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_only_admins_manage_projects(client: Client, project: Project, role: str) -> None:
    """Viewers and members get 403 on the project pages and cannot create or change one."""
    client.force_login(make_user("someone", role))
    assert client.get("/projects/").status_code == 403
    assert client.post("/projects/", {"name": "X", "code": "x"}).status_code == 403
    assert client.post(f"/projects/{project.pk}/", {"name": "X", "code": "x"}).status_code == 403
    assert list(Project.objects.values_list("name", flat=True)) == ["Demo album"]


def test_project_list_query_count_does_not_grow(
    admin_client: Client, admin_user: User, django_assert_max_num_queries: object
) -> None:
    """The project list costs the same number of queries with 1 or 50 projects."""
    Project.objects.create(name="P0", code="p0")
    with django_assert_max_num_queries(8) as few:
        admin_client.get("/projects/")
    for i in range(1, 50):
        Project.objects.create(name=f"P{i}", code=f"p{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get("/projects/")
    assert response.content.decode().count('href="/projects/') >= 50
