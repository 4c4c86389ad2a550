import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, expect

from accounts.models import Project, Role, User
from jobs.models import Asset, RemoteStatus, SubmissionState, Target, TargetStatus, Task
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Console errors of the page (a CSP violation is reported there)."""
    errors: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", keep)
    return errors


@pytest.fixture
def some_work(project: Project, member: User) -> None:
    """A few assets and tasks in various states, so the dashboard shows real rows."""
    now = timezone.now()
    states = [
        ("Intro theme.wav", RemoteStatus.READY, SubmissionState.SUBMITTED, None),
        ("Interview take 3.flac", RemoteStatus.READY, SubmissionState.SUBMITTED, now),
        ("Live at the Roxy.mp3", RemoteStatus.UPLOADING, SubmissionState.WAITING_SOURCE, None),
    ]
    for i, (name, asset_state, task_state, completed) in enumerate(states):
        when = now - timedelta(minutes=7 * (i + 1))
        asset = Asset.objects.create(
            project=project,
            uploaded_by=member,
            name=name,
            format=name.rsplit(".")[-1],
            size_bytes=4_800_000 * (i + 1),
            remote_status=asset_state,
            created_at=when,
        )
        task = Task.objects.create(
            form_token=uuid.uuid4(),
            project=project,
            created_by=member,
            source_asset=asset,
            source_name=name,
            submission_state=task_state,
            completed_at=completed,
            created_at=when,
        )
        for model in ["vocals", "drums", "bass"]:
            done = completed is not None
            Target.objects.create(
                task=task,
                model=model,
                estimated_cost=Decimal("1.50"),
                status=TargetStatus.COMPLETED if done else TargetStatus.PROCESSING,
                cost=Decimal("1.50") if done else None,
                completed_at=completed,
            )


def _log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_login_form_leads_to_the_dashboard(
    page: Page,
    live_server: object,
    admin_user: User,
    some_work: None,
    screenshot: object,
    console_errors: list[str],
) -> None:
    """Logging in through the form shows the dashboard with the team's navigation."""
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/team/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/team/"))
    screenshot(page, "login")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    for name in ["Tasks", "Assets", "Costs", "Team"]:
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_text("Tasks in flight")).to_be_visible()
    recent = page.get_by_role("region", name="Recent tasks")
    expect(recent.get_by_role("link", name="Interview take 3.flac")).to_be_visible()
    expect(recent.get_by_text("Completed")).to_be_visible()
    screenshot(page, "dashboard")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert console_errors == []


def test_admin_adds_a_member_and_changes_roles_inline(
    page: Page,
    live_server: object,
    admin_user: User,
    member: User,
    project: Project,
    screenshot: object,
    console_errors: list[str],
) -> None:
    """On the Team page an admin invites someone (the link is shown, with a working copy
    button) and changes a role in place with htmx."""
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, live_server.url, "ada")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    page.get_by_label("Username", exact=True).fill("nina")
    page.get_by_label("E-mail").fill("nina@example.com")
    page.get_by_label("Name (optional)").fill("Nina Simone")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add and create the invitation").click()
    expect(page.get_by_role("heading", name="Invitation link for nina")).to_be_visible()
    expect(page.get_by_role("textbox", name="Invitation link")).to_have_value(
        re.compile(r"/accounts/reset/")
    )
    expect(page.get_by_role("button", name="Copy")).to_be_visible()  # the script ran

    row = page.locator(f"#member-{member.pk}")
    row.get_by_label("Role of milo").select_option("admin")
    with page.expect_response(f"**/team/{member.pk}/role/"):
        row.get_by_role("button", name="Save role of milo").click()
    expect(row.get_by_role("status")).to_have_text("milo is now Admin.")
    assert User.objects.get(pk=member.pk).role == Role.ADMIN
    # htmx swapped the row only: the invitation panel of the full page is still there.
    expect(page.get_by_role("heading", name="Invitation link for nina")).to_be_visible()
    screenshot(page, "team")

    page.get_by_role("link", name="Projects").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    screenshot(page, "projects")

    # On a phone the member table scrolls inside its card; the page itself does not.
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{live_server.url}/team/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "team-phone")
    assert console_errors == []


def test_viewer_sees_why_a_page_is_refused(
    page: Page, live_server: object, viewer: User, screenshot: object
) -> None:
    """A viewer opening the Team page gets the 403 page naming the role needed."""
    _log_in(page, live_server.url, "vera")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.goto(f"{live_server.url}/team/")
    expect(page.get_by_text("Only team admins can do this.")).to_be_visible()
    screenshot(page, "forbidden")


def test_invited_member_sets_a_password_and_lands_logged_in(
    page: Page,
    live_server: object,
    admin_user: User,
    project: Project,
    screenshot: object,
    console_errors: list[str],
) -> None:
    """The invitation link's set-password step ends on the dashboard, logged in, welcomed."""
    page.set_viewport_size({"width": 1280, "height": 800})
    _log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/team/")
    page.get_by_label("Username", exact=True).fill("nina")
    page.get_by_label("E-mail").fill("nina@example.com")
    page.get_by_label("Name (optional)").fill("Nina Simone")
    page.get_by_role("button", name="Add and create the invitation").click()
    link = page.get_by_role("textbox", name="Invitation link").input_value()
    screenshot(page, "team-invitation")

    guest = page.context.browser.new_context().new_page()
    guest.set_viewport_size({"width": 1280, "height": 800})
    guest.goto(link)
    expect(guest.get_by_role("heading", name="Welcome to shakeweb")).to_be_visible()
    guest.get_by_label("New password", exact=True).fill(PASSWORD)
    guest.get_by_label("New password confirmation").fill(PASSWORD)
    guest.get_by_role("button", name="Save the password and log in").click()
    expect(guest.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(guest.get_by_role("status")).to_contain_text("Welcome to the team, Nina Simone!")
    expect(guest.get_by_role("button", name="Log out")).to_be_visible()
    screenshot(guest, "welcomed")
    guest.context.close()
    assert console_errors == []


def test_project_code_is_lower_cased_or_refused_plainly(
    page: Page, live_server: object, admin_user: User, screenshot: object
) -> None:
    """A code with capitals is saved in lower case; one with a space is refused in words."""
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/projects/")
    page.get_by_label("Name").fill("Film X")
    page.get_by_label("Code").fill("Film X")
    page.get_by_role("button", name="Create the project").click()
    refusal = page.get_by_text("Use only letters, digits, hyphens (-) and underscores")
    expect(refusal).to_be_visible()
    screenshot(page, "refused")
    page.get_by_label("Code").fill("Film-X")
    page.get_by_role("button", name="Create the project").click()
    expect(page.get_by_role("cell", name="film-x", exact=True)).to_be_visible()
    screenshot(page, "created")
