import pytest
from django.test import Client

from accounts.models import User


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    """The test client logged in as the team admin `ada` (not a superuser)."""
    client.force_login(admin_user)
    return client
