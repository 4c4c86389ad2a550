import pytest

from accounts import services
from accounts.models import Project, Role, User

pytestmark = pytest.mark.django_db


def test_split_name_round_trips_through_get_full_name() -> None:
    """Whatever the admin types as the name comes back from get_full_name()."""
    for name in ["Ada", "Ada Lovelace", "Ludwig van  Beethoven ", ""]:
        first, last = services.split_name(name)
        user = User(first_name=first, last_name=last)
        assert user.get_full_name() == " ".join(name.split())


def test_invite_race_on_username_is_refused_not_a_crash(admin_user: User, member: User) -> None:
    """If the username is taken between the form check and the save, the service refuses
    cleanly (the view shows it on the form) instead of raising IntegrityError."""
    with pytest.raises(services.ChangeRefused, match="already has the username"):
        services.member_invite(
            username="milo",
            email="other@example.com",
            name="",
            role=Role.VIEWER,
            invited_by=admin_user,
            site_url="http://testserver",
        )
    assert User.objects.filter(username="milo").count() == 1


def test_project_race_on_code_is_refused_not_a_crash(project: Project) -> None:
    """A duplicate name or code that slipped past the form is refused with a message."""
    with pytest.raises(services.ChangeRefused, match="already has this name or code"):
        services.project_create(name="Another", code="demo", monthly_budget=None)
    other = services.project_create(name="Another", code="another", monthly_budget=None)
    with pytest.raises(services.ChangeRefused):
        services.project_update(
            project=other, name="Demo album", code="another", monthly_budget=None, archived=False
        )
    assert Project.objects.count() == 2


def test_role_change_of_a_superuser_is_refused(admin_user: User) -> None:
    """Superusers are changed in the Django admin only."""
    root = User.objects.create_superuser(username="root", password=None)
    with pytest.raises(services.ChangeRefused, match="superuser"):
        services.member_set_role(member=root, role=Role.VIEWER)
    with pytest.raises(services.ChangeRefused, match="superuser"):
        services.member_set_cost_access(member=root, allowed=False)


def test_superuser_counts_as_the_remaining_admin(admin_user: User) -> None:
    """An active superuser keeps the team administrable, so the last team admin may step down."""
    User.objects.create_superuser(username="root", password=None, role=Role.VIEWER)
    services.member_set_role(member=admin_user, role=Role.MEMBER)
    admin_user.refresh_from_db()
    assert admin_user.role == Role.MEMBER


def test_project_services_lower_case_the_code(project: Project) -> None:
    """Whoever calls the services (views, commands), a project code is stored in lower case."""
    created = services.project_create(name="Film", code=" FILM-x ", monthly_budget=None)
    assert created.code == "film-x"
    services.project_update(
        project=project, name="Demo", code="DEMO_2", monthly_budget=None, archived=False
    )
    project.refresh_from_db()
    assert project.code == "demo_2"
