"""The client's address, as the log-in lock-out and the password-reset throttle count it.

Without a proxy (`TRUSTED_PROXY_COUNT=0`, the default) it is the connection's address and any
`X-Forwarded-For` a client sends is ignored: it could be anything. Behind N proxies that each
append the address they received the request from (nginx's `$proxy_add_x_forwarded_for`,
Caddy, Traefik, cloud load balancers), the client is the N-th address from the right of
`X-Forwarded-For`: what the outermost trusted proxy saw. Addresses to its left were written
by the client and are never used."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> str:
    """The address in canonical form, or "" when `value` is not one."""
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.5:51234"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return ""


def client_ip(request: HttpRequest) -> str:
    """The client's address (AXES_CLIENT_IP_CALLABLE); the connection's when in doubt."""
    remote = _address(request.META.get("REMOTE_ADDR", "")) or request.META.get("REMOTE_ADDR", "")
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote
    # The trusted hops are at the right end: a huge header is cut from the left.
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "")[-4096:].split(",")
    if len(hops) < count:  # did not come through every proxy: the connection is all we know
        return remote
    return _address(hops[-count]) or remote
