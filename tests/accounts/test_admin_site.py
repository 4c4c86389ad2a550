import pytest
from django.test import Client

from accounts.models import Project, Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(username="root", password=PASSWORD))
    return client


def test_superuser_manages_users_and_projects_in_the_admin(
    root_client: Client, member: User, project: Project
) -> None:
    """The Django admin lists, shows and edits users (with role and cost flag) and projects."""
    for path in [
        "/admin/accounts/user/",
        "/admin/accounts/user/add/",
        f"/admin/accounts/user/{member.pk}/change/",
        "/admin/accounts/project/",
        f"/admin/accounts/project/{project.pk}/change/",
    ]:
        assert root_client.get(path).status_code == 200, path
    page = root_client.get(f"/admin/accounts/user/{member.pk}/change/").content.decode()
    assert 'name="role"' in page
    assert 'name="can_view_costs"' in page


def test_superuser_adds_a_user_with_a_role(root_client: Client) -> None:
    """The admin's add form sets the role and e-mail along with the password."""
    response = root_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "zoe",
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "email": "zoe@example.com",
            "role": "viewer",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    zoe = User.objects.get(username="zoe")
    assert (zoe.role, zoe.email) == (Role.VIEWER, "zoe@example.com")


def test_team_admins_are_not_let_into_the_django_admin(client: Client, admin_user: User) -> None:
    """The Django admin is for staff superusers; a team admin is sent to its log-in form."""
    client.force_login(admin_user)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_admin_lower_cases_a_project_code(root_client: Client) -> None:
    """The Django admin's project form applies the same code rules as the Projects page."""
    response = root_client.post(
        "/admin/accounts/project/add/", {"name": "Film", "code": "FILM-X", "monthly_budget": ""}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Project.objects.get(name="Film").code == "film-x"
    bad = root_client.post(
        "/admin/accounts/project/add/", {"name": "Other", "code": "no spaces", "monthly_budget": ""}
    )
    assert "Use only letters, digits, hyphens (-) and underscores (_)" in bad.content.decode()
