"""The log-in lock-out behind the TLS proxy: it counts failures per username *and* client
address, the address taken from the proxy's `X-Forwarded-For` only when TRUSTED_PROXY_COUNT
says the app is behind proxies, so nobody can lock a colleague out from elsewhere."""

import pytest
from django.conf import settings
from django.test import Client, RequestFactory

from accounts.clientip import client_ip
from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"  # every request arrives from the proxy


def _login(address: str, forwarded: str | None, password: str) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    response = Client(REMOTE_ADDR=address).post(
        "/accounts/login/", {"username": "milo", "password": password}, headers=headers
    )
    return response.status_code


def _fail_until_locked(address: str, forwarded: str | None) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(address, forwarded, "wrong")
    assert _login(address, forwarded, PASSWORD) == 429


def test_behind_the_proxy_two_clients_are_counted_apart(member: User, settings) -> None:
    """Failures from one client behind the proxy lock that client only: another client, same
    proxy, same username, still logs in."""
    settings.TRUSTED_PROXY_COUNT = 1
    _fail_until_locked(PROXY, "203.0.113.5")
    assert _login(PROXY, "198.51.100.7", PASSWORD) == 302
    assert _login(PROXY, "203.0.113.5", PASSWORD) == 429  # and the first one stays locked


def test_behind_the_proxy_a_spoofed_left_part_is_ignored(member: User, settings) -> None:
    """A client cannot choose its address by sending X-Forwarded-For: the proxy appends the
    real one, and only that (the rightmost) counts."""
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(PROXY, f"192.0.2.{n}, 203.0.113.5", "wrong")  # a new spoofed address each time
    assert _login(PROXY, "198.51.100.99, 203.0.113.5", PASSWORD) == 429
    assert _login(PROXY, "203.0.113.5, 198.51.100.7", PASSWORD) == 302


def test_without_a_proxy_the_header_is_ignored(member: User, settings) -> None:
    """With no proxy configured, a spoofed X-Forwarded-For neither locks out the address it
    names nor gives the attacker a fresh count."""
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login("203.0.113.5", f"198.51.100.{n}", "wrong")
    assert _login("203.0.113.5", "198.51.100.200", PASSWORD) == 429
    assert _login("198.51.100.0", None, PASSWORD) == 302  # the named victim is not locked


def test_lockout_is_user_and_address_combined(member: User, viewer: User, settings) -> None:
    """Locking milo from one address locks neither milo elsewhere nor vera from there."""
    settings.TRUSTED_PROXY_COUNT = 0
    _fail_until_locked("203.0.113.5", None)
    assert _login("198.51.100.7", None, PASSWORD) == 302
    vera = Client(REMOTE_ADDR="203.0.113.5").post(
        "/accounts/login/", {"username": "vera", "password": PASSWORD}
    )
    assert vera.status_code == 302


@pytest.mark.parametrize(
    ("count", "remote", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "198.51.100.7", "203.0.113.5"),
        (1, PROXY, "198.51.100.7", "198.51.100.7"),
        (1, PROXY, "1.1.1.1, 198.51.100.7", "198.51.100.7"),
        (1, PROXY, " 198.51.100.7:5123 ", "198.51.100.7"),
        (1, PROXY, "[2001:db8::1]:443", "2001:db8::1"),
        (1, PROXY, "2001:DB8:0::1", "2001:db8::1"),
        (2, PROXY, "6.6.6.6, 198.51.100.7, 10.0.0.1", "198.51.100.7"),
        (2, PROXY, "198.51.100.7", PROXY),  # fewer hops than proxies: the connection
        (1, PROXY, "", PROXY),
        (1, PROXY, "garbage", PROXY),
        (1, PROXY, "x" * 10_000, PROXY),
        (1, PROXY, "x" * 10_000 + ", 198.51.100.7", "198.51.100.7"),
        (1, PROXY, None, PROXY),
    ],
)
def test_client_ip(settings, count, remote, forwarded, expected) -> None:
    """The client address for each proxy count and header shape; garbage falls back to the
    connection's address."""
    settings.TRUSTED_PROXY_COUNT = count
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **extra)
    assert client_ip(request) == expected
