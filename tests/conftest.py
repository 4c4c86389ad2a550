"""Fixtures shared by the whole suite: team members, a project, the live sandbox, Chromium."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import Project, Role, User

# Playwright's sync API runs an event loop in the test thread; Django's ORM would otherwise
# refuse to run there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery-staple-42"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Outside pytest-playwright's output folder (test-results/), which it empties at every start.
SCREENSHOTS = Path(settings.BASE_DIR) / "screenshots"


def make_user(username: str, role: str, **extra: object) -> User:
    return User.objects.create_user(
        username=username, password=PASSWORD, role=role, email=f"{username}@example.com", **extra
    )


@pytest.fixture
def viewer(db: None) -> User:
    return make_user("vera", Role.VIEWER)


@pytest.fixture
def member(db: None) -> User:
    return make_user("milo", Role.MEMBER)


@pytest.fixture
def admin_user(db: None) -> User:
    return make_user("ada", Role.ADMIN)


@pytest.fixture
def project(db: None) -> Project:
    return Project.objects.create(name="Demo album", code="demo", monthly_budget=1000)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: object) -> None:
    """Django's default hasher takes ~0.5 s per password on purpose; tests create many users.
    (Production keeps the default: this only applies under pytest.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_root(tmp_path: Path, settings: object) -> None:
    """Every test writes uploads and mirrored outputs into its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "outputs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media" / "outputs")},
        },
    }


@pytest.fixture
def sandbox_api(live_server: object, settings: object) -> str:
    """The dashboard pointed at the sandbox served by the live server, over real HTTP.
    Returns the API base URL."""
    from sandbox.keys import sandbox_api_key

    base = f"{live_server.url}/sandbox/api"
    settings.AUDIOSHAKE_BASE_URL = base
    settings.AUDIOSHAKE_API_KEY = sandbox_api_key()
    settings.SITE_URL = live_server.url
    return base


# Browser tests -----------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests need Debian's Chromium. Without it they are skipped with the command to
    install it, unless REQUIRE_BROWSER=1 (CI), where a missing browser is a failure."""
    if os.path.exists(CHROMIUM) or os.environ.get("REQUIRE_BROWSER") == "1":
        return
    skip = pytest.mark.skip(
        reason=f"Chromium not found at {CHROMIUM}: install it with "
        "'apt-get update && apt-get install chromium' (or set CHROMIUM_PATH)"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM}")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> object:
    """`screenshot(page, "name")` saves test-results/screenshots/<test>-<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: object, name: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def logged_in_page(page: object, live_server: object, member: User) -> object:
    """A Chromium page logged in as a member, through the real login form."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(member.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    return page


def have_chromium() -> bool:
    return shutil.which(CHROMIUM) is not None
