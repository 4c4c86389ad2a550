import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Role, User
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _invite(client: Client, **fields: str) -> object:
    data = {
        "username": "nina",
        "email": "nina@example.com",
        "name": "Nina Simone",
        "role": "member",
    }
    return client.post("/team/", {**data, **fields}, follow=True)


def test_team_page_lists_members_with_their_settings(
    admin_client: Client, admin_user: User, member: User
) -> None:
    """The Team page shows each member's name, e-mail, role, cost flag, state and last log-in."""
    response = admin_client.get("/team/")
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(rf'<tr id="member-{member.pk}".*?</tr>', html, re.S).group(0)
    assert "milo@example.com" in row
    assert '<option value="member" selected>' in row
    assert "Allow" in row  # cost permission off, with the button to turn it on
    assert "Active" in row
    assert "Never" in row  # never logged in


def test_adding_a_member_creates_an_invitation(admin_client: Client) -> None:
    """A new member has no usable password, gets the set-password link by e-mail, and the admin
    sees the same link once."""
    response = _invite(admin_client)
    nina = User.objects.get(username="nina")
    assert not nina.has_usable_password()
    assert (nina.first_name, nina.last_name, nina.role) == ("Nina", "Simone", Role.MEMBER)
    html = response.content.decode()
    link = re.search(r'id="invitation-link" readonly value="([^"]+)"', html).group(1)
    assert link.startswith("http://testserver/accounts/reset/")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["nina@example.com"]
    assert link in mail.outbox[0].body
    assert "Your username is: nina" in mail.outbox[0].body
    # Shown once: a reload no longer carries the link.
    assert link not in admin_client.get("/team/").content.decode()


def test_invitation_link_lets_the_new_member_choose_a_password(admin_client: Client) -> None:
    """The invited member opens the link, chooses a password and lands on the dashboard
    logged in, with a welcome; the password works for later log-ins and the link then stops
    working."""
    _invite(admin_client)
    link = re.search(r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    guest = Client()
    page = guest.get(link, follow=True)
    assert "Welcome to shakeweb" in page.content.decode()
    assert "Your username is <strong>nina</strong>" in page.content.decode()
    assert "Save the password and log in</button>" in page.content.decode()
    set_password_url = page.redirect_chain[-1][0]
    done = guest.post(
        set_password_url, {"new_password1": PASSWORD, "new_password2": PASSWORD}, follow=True
    )
    assert done.redirect_chain == [("/", 302)]
    html = done.content.decode()
    assert "<h1>Dashboard</h1>" in html
    assert "Welcome to the team, Nina Simone! Your password is saved" in html
    assert int(guest.session["_auth_user_id"]) == User.objects.get(username="nina").pk
    login = Client().post("/accounts/login/", {"username": "nina", "password": PASSWORD})
    assert login.url == "/"
    again = Client().get(link, follow=True)
    assert "This link no longer works" in again.content.decode()


def test_deactivated_member_cannot_use_their_invitation(
    admin_client: Client, admin_user: User
) -> None:
    """An invitation link stops working when the member is deactivated: no password is set
    and nobody is logged in."""
    _invite(admin_client)
    link = re.search(r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    nina = User.objects.get(username="nina")
    admin_client.post(f"/team/{nina.pk}/active/", {"value": "0"})
    guest = Client()
    page = guest.get(link, follow=True)
    assert "This link no longer works" in page.content.decode()
    posted = guest.post(
        page.redirect_chain[-1][0] if page.redirect_chain else link,
        {"new_password1": PASSWORD, "new_password2": PASSWORD},
        follow=True,
    )
    assert "This link no longer works" in posted.content.decode()
    assert "_auth_user_id" not in guest.session
    nina.refresh_from_db()
    assert not nina.has_usable_password()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "MILO"}, "Someone already has this username."),
        ({"email": "MILO@example.com"}, "Someone on the team already uses this e-mail address."),
        ({"email": "not-an-address"}, "Enter a valid email address."),
        ({"username": "has space"}, "Enter a valid username."),
        ({"role": "owner"}, "Select a valid choice."),
    ],
)
def test_invalid_invitation_keeps_the_input_and_says_why(
    admin_client: Client, member: User, fields: dict[str, str], message: str
) -> None:
    """A refused invitation re-renders the form with the typed values and a clear message."""
    response = _invite(admin_client, **fields)
    html = response.content.decode()
    assert message in html
    assert 'value="Nina Simone"' in html
    assert User.objects.count() == 2
    assert mail.outbox == []


def test_unsent_email_still_shows_the_link(admin_client: Client, settings: object) -> None:
    """When the mail server refuses, the member is still added and the admin passes the link on."""
    settings.MAILERS = {  # nothing listens on port 9 here: the connection is refused
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    html = _invite(admin_client).content.decode()
    assert User.objects.filter(username="nina").exists()
    assert "could not be sent" in html
    assert 'id="invitation-link"' in html


def test_new_invitation_link_for_a_pending_member(admin_client: Client) -> None:
    """An admin can issue a fresh link to someone who has not chosen a password yet."""
    _invite(admin_client)
    nina = User.objects.get(username="nina")
    response = admin_client.post(f"/team/{nina.pk}/invitation/", follow=True)
    assert 'id="invitation-link"' in response.content.decode()
    assert len(mail.outbox) == 2


def test_no_invitation_link_for_a_member_with_a_password(
    admin_client: Client, member: User
) -> None:
    """Members who already chose a password reset it themselves; no link is issued for them."""
    response = admin_client.post(f"/team/{member.pk}/invitation/", follow=True)
    assert "already has a password" in response.content.decode()
    assert mail.outbox == []


def test_change_role_without_javascript(admin_client: Client, member: User) -> None:
    """The plain form changes the role and goes back to the Team page with a message."""
    response = admin_client.post(f"/team/{member.pk}/role/", {"role": "viewer"}, follow=True)
    member.refresh_from_db()
    assert member.role == Role.VIEWER
    assert "milo is now Viewer." in response.content.decode()


def test_change_role_with_htmx_swaps_the_row(admin_client: Client, member: User) -> None:
    """With htmx the answer is the member's row alone, with the outcome in it."""
    response = admin_client.post(f"/team/{member.pk}/role/", {"role": "admin"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith(f'<tr id="member-{member.pk}"')
    assert "<html" not in html
    assert '<option value="admin" selected>' in html
    assert "milo is now Admin." in html
    member.refresh_from_db()
    assert member.role == Role.ADMIN


def test_unknown_role_is_refused(admin_client: Client, member: User) -> None:
    """A role outside the list changes nothing and says so."""
    response = admin_client.post(f"/team/{member.pk}/role/", {"role": "owner"}, headers=HTMX)
    assert "Choose one of the roles" in response.content.decode()
    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_last_admin_cannot_demote_or_deactivate_themselves(
    admin_client: Client, admin_user: User
) -> None:
    """The only active admin can neither drop the role nor deactivate their account."""
    demote = admin_client.post(f"/team/{admin_user.pk}/role/", {"role": "member"}, headers=HTMX)
    assert "last active admin" in demote.content.decode()
    deactivate = admin_client.post(f"/team/{admin_user.pk}/active/", {"value": "0"}, follow=True)
    assert "last active admin" in deactivate.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN
    assert admin_user.is_active


def test_an_admin_can_step_down_when_another_admin_remains(
    admin_client: Client, admin_user: User
) -> None:
    """With a second active admin, the first may become a member."""
    make_user("grace", Role.ADMIN)
    admin_client.post(f"/team/{admin_user.pk}/role/", {"role": "member"})
    admin_user.refresh_from_db()
    assert admin_user.role == Role.MEMBER


def test_an_inactive_admin_does_not_count(admin_client: Client, admin_user: User) -> None:
    """A deactivated admin cannot keep the team running, so they do not count as the other one."""
    make_user("grace", Role.ADMIN, is_active=False)
    admin_client.post(f"/team/{admin_user.pk}/role/", {"role": "member"})
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN


def test_cost_permission_is_set_explicitly(admin_client: Client, member: User) -> None:
    """Allow then hide costs; sending the same value twice leaves it as asked (no flip-flop)."""
    for _ in range(2):
        response = admin_client.post(f"/team/{member.pk}/costs/", {"value": "1"}, headers=HTMX)
        member.refresh_from_db()
        assert member.can_view_costs
    assert "milo now sees costs." in response.content.decode()
    admin_client.post(f"/team/{member.pk}/costs/", {"value": "0"})
    member.refresh_from_db()
    assert not member.can_view_costs


def test_garbled_flag_changes_nothing(admin_client: Client, member: User) -> None:
    """A value other than 1/0 is refused with a message."""
    response = admin_client.post(f"/team/{member.pk}/active/", {"value": "yes"}, follow=True)
    assert "not understood" in response.content.decode()
    member.refresh_from_db()
    assert member.is_active


def test_deactivated_member_is_logged_out_and_cannot_log_in(
    admin_client: Client, member: User
) -> None:
    """Deactivating ends the member's session at once and refuses new log-ins; reactivating
    lets them back in."""
    theirs = Client()
    theirs.force_login(member)
    assert theirs.get("/").status_code == 200
    admin_client.post(f"/team/{member.pk}/active/", {"value": "0"})
    assert theirs.get("/").status_code == 302
    login = Client().post("/accounts/login/", {"username": "milo", "password": PASSWORD})
    assert login.status_code == 200
    admin_client.post(f"/team/{member.pk}/active/", {"value": "1"})
    login = Client().post("/accounts/login/", {"username": "milo", "password": PASSWORD})
    assert login.status_code == 302


def test_superusers_are_read_only_on_the_team_page(admin_client: Client) -> None:
    """A team admin cannot demote or deactivate a superuser (that is the Django admin's job)."""
    root = User.objects.create_superuser(username="root", password=PASSWORD, role=Role.VIEWER)
    response = admin_client.post(f"/team/{root.pk}/active/", {"value": "0"}, follow=True)
    assert "superuser" in response.content.decode()
    root.refresh_from_db()
    assert root.is_active
    page = admin_client.get("/team/").content.decode()
    row = re.search(rf'<tr id="member-{root.pk}".*?</tr>', page, re.S).group(0)
    assert "Managed in the Django admin" in row
    assert "<form" not in row


def test_unknown_member_is_404(admin_client: Client) -> None:
    """Actions on a member that does not exist answer 404."""
    assert admin_client.post("/team/999999/role/", {"role": "viewer"}).status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_team_actions_are_for_admins_only(client: Client, role: str, member: User) -> None:
    """Viewers and members get 403 on the Team page and every team action, and change nothing."""
    user = make_user("someone", role)
    client.force_login(user)
    assert client.get("/team/").status_code == 403
    assert _invite(client).status_code == 403
    assert client.post(f"/team/{member.pk}/role/", {"role": "admin"}).status_code == 403
    assert client.post(f"/team/{member.pk}/costs/", {"value": "1"}).status_code == 403
    assert client.post(f"/team/{member.pk}/active/", {"value": "0"}).status_code == 403
    member.refresh_from_db()
    assert (member.role, member.can_view_costs, member.is_active) == (Role.MEMBER, False, True)
    assert not User.objects.filter(username="nina").exists()


def test_team_page_query_count_does_not_grow(
    admin_client: Client, django_assert_max_num_queries: object
) -> None:
    """The Team page costs the same number of queries with 1 or 50 members."""
    with django_assert_max_num_queries(8) as few:
        admin_client.get("/team/")
    User.objects.bulk_create(
        User(username=f"user{i}", email=f"user{i}@example.com", role=Role.MEMBER) for i in range(50)
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get("/team/")
    assert response.content.decode().count('<tr id="member-') == 51
