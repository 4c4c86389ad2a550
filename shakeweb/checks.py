"""System checks of the deployment that Django's own do not know about.

Django runs them before `manage.py` commands (the poller and `check --deploy` included);
`shakeweb.wsgi` runs them when gunicorn loads the app, so a misconfigured production refuses
to start instead of serving."""

from django.conf import settings
from django.core import checks
from django.core.management.base import SystemCheckError

STARTUP = "shakeweb_startup"


@checks.register(checks.Tags.security, STARTUP)
def sandbox_in_production(app_configs: object = None, **kwargs: object) -> list[checks.Error]:
    """With DEBUG off, the sandbox (a fake AudioShake with an echo endpoint, mounted under
    /sandbox/) is refused unless SANDBOX_IN_PRODUCTION=1 says it is meant (a demo)."""
    if settings.DEBUG:
        return []
    if not settings.SANDBOX_ENABLED or settings.SANDBOX_IN_PRODUCTION:
        return []
    why = (
        "no AUDIOSHAKE_API_KEY is set"
        if not settings.AUDIOSHAKE_API_KEY
        else "SANDBOX_ENABLED is on"
    )
    return [
        checks.Error(
            f"DEBUG is off but {why}, so the local sandbox (a fake AudioShake API, with its "
            "echo and fault-control endpoints) would be served under /sandbox/.",
            hint="Set AUDIOSHAKE_API_KEY to your AudioShake key (and leave SANDBOX_ENABLED "
            "unset), or set SANDBOX_IN_PRODUCTION=1 if this deployment really is a sandbox "
            "demo. For development, set DEBUG=1.",
            id="shakeweb.E001",
        )
    ]


def refuse_to_start() -> None:
    """Raise SystemCheckError when a startup check fails (called by `shakeweb.wsgi`)."""
    errors = [e for e in checks.run_checks(tags=[STARTUP]) if e.is_serious()]
    if errors:
        raise SystemCheckError(
            "shakeweb refuses to start:\n" + "\n".join(f"{e}\n  HINT: {e.hint}" for e in errors)
        )
