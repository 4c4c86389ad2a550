"""The one settings module. Every value comes from the environment (or `.env`), through
django-environ; `.env.example` lists them all with their defaults.

Development (DEBUG=1, the default for `make run`) uses SQLite and the embedded sandbox.
Production (DEBUG=0) requires SECRET_KEY and ALLOWED_HOSTS and turns on the secure defaults
that `manage.py check --deploy` asks for.
"""

from pathlib import Path

import environ
from django.utils.csp import CSP

from shakeweb.sandbox_mode import sandbox_api_key
from shakeweb.storage_url import media_origins, storage_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # SQLite files, uploads and generated keys of a local install
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Tests run under shakeweb/test_settings.py, which starts from this module.
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env("SECRET_KEY")  # production: no default, a missing key is an error

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "shakeweb",  # its system checks (shakeweb/checks.py)
    "accounts",
    "jobs",
    "costs",
    "listening",  # mix exports and ratings (issue 16)
    "batches",  # one task per asset under one name and token (issue 15)
    "approvals",  # a member's task above its project's threshold waits for an admin
    "audit",  # the append-only audit log
    "api",  # /api/v1/ and personal API tokens
    "ninja",  # django-ninja: its vendored Swagger UI for /api/v1/docs (no CDN: the CSP)
    "notifications",  # told once per event: e-mail, browser notices, team webhook
]

# The sandbox (a local AudioShake-compatible API) is on by default outside production and
# whenever no AudioShake key is configured; it is mounted under /sandbox/.
AUDIOSHAKE_API_KEY = env("AUDIOSHAKE_API_KEY", default="")
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=not AUDIOSHAKE_API_KEY)
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SessionPolicyMiddleware",  # idle/absolute timeouts, no-store
    "api.middleware.TokenDownloadMiddleware",  # download links with an API token (scripts)
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "shakeweb.urls"
WSGI_APPLICATION = "shakeweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "jobs.context_processors.system_status",
                "approvals.context_processors.approvals_nav",
                "notifications.context_processors.browser_poll",
            ],
        },
    },
]

# Databases. SQLite by default, in WAL mode with a busy timeout and IMMEDIATE transactions:
# the web server, the poller and the sandbox worker are separate processes writing to the same
# file, and WAL lets readers go on while one writes, the busy timeout makes a writer wait for
# the lock instead of failing with "database is locked", and IMMEDIATE takes the write lock at
# BEGIN so that a transaction never has to upgrade (and deadlock) half-way through.
# Each web worker keeps its connection (CONN_MAX_AGE below, with a health check at the start of
# each request) instead of opening the file and running these pragmas per request; mmap lets
# readers share the OS page cache instead of copying pages into each connection's own cache.
SQLITE_OPTIONS = {
    "init_command": (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        " PRAGMA mmap_size=268435456; PRAGMA cache_size=-32000; PRAGMA temp_store=MEMORY;"
    ),
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
}


def _database(url: str, test_name: str) -> dict:
    config = env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        # A file (not :memory:) so that the poller and sandbox worker subprocesses of the
        # tests see the same database as the test process.
        # SHAKEWEB_TEST_DB_PREFIX keeps concurrent test runs on one checkout apart.
        prefix = env("SHAKEWEB_TEST_DB_PREFIX", default="")
        config["TEST"] = {"NAME": str(VAR_DIR / f"{prefix}{test_name}")}
    config.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {
    "default": _database(
        env("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'shakeweb.sqlite3'}"),
        "test-shakeweb.sqlite3",
    ),
}
if SANDBOX_ENABLED:
    DATABASES["sandbox"] = _database(
        env("SANDBOX_DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'sandbox.sqlite3'}"),
        "test-sandbox.sqlite3",
    )
    DATABASE_ROUTERS = ["sandbox.routers.SandboxRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs:dashboard"
LOGOUT_REDIRECT_URL = "login"

# Sessions (accounts/sessions.py): logged out after SESSION_IDLE_MINUTES without a request and
# SESSION_ABSOLUTE_HOURS after logging in, whatever happens. The idle clock (and the stored
# expiry) is refreshed at most once per SESSION_REFRESH_MINUTES: one session write per
# interval per active member, not one per request.
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_MINUTES", default=120) * 60
SESSION_ABSOLUTE_SECONDS = int(env.float("SESSION_ABSOLUTE_HOURS", default=12) * 3600)
SESSION_REFRESH_SECONDS = min(
    env.int("SESSION_REFRESH_MINUTES", default=5) * 60, SESSION_IDLE_SECONDS // 2
)
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS
SESSION_SAVE_EVERY_REQUEST = False

# Password-reset requests: at most this many per client address and per e-mail address typed
# in the window, counted in the cache (accounts/throttle.py).
PASSWORD_RESET_PER_ADDRESS = env.int("PASSWORD_RESET_PER_ADDRESS", default=5)
PASSWORD_RESET_PER_ACCOUNT = env.int("PASSWORD_RESET_PER_ACCOUNT", default=3)
PASSWORD_RESET_WINDOW_SECONDS = env.int("PASSWORD_RESET_WINDOW_MINUTES", default=60) * 60
# /api/v1/: calls per personal token and minute (counted in the cache, like the throttles above).
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=120)

# The cache holds only those counters. A file cache in var/ is shared by every process of one
# machine; several web machines want a shared one (CACHE_URL=redis://..., or
# dbcache://shakeweb_cache after `manage.py createcachetable`).
CACHES = {
    "default": env.cache_url(
        "CACHE_URL",
        default=f"filecache://{VAR_DIR / 'cache'}",
    )
}

# Login throttling: five failures for one username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address: the connection's, or behind TRUSTED_PROXY_COUNT proxies that append
# to X-Forwarded-For, the one the outermost of them saw (accounts/clientip.py). Never a
# header a client could write itself; the lock-out is per username *and* address, so nobody
# can lock a colleague out from elsewhere.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "accounts.clientip.client_ip"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: downloads go through views that check logins

# Uploads (Asset.file, the default storage) and mirrored outputs: folders under MEDIA_ROOT by
# default; with several machines (no shared disk) an S3 bucket each, UPLOADS_STORAGE and
# OUTPUTS_STORAGE = s3://bucket/prefix (shakeweb/storage_url.py, docs/operations.md).
UPLOADS_STORAGE = storage_config(
    env("UPLOADS_STORAGE", default=""), local=None, setting="UPLOADS_STORAGE"
)
OUTPUTS_STORAGE = storage_config(
    env("OUTPUTS_STORAGE", default=""), local=MEDIA_ROOT / "outputs", setting="OUTPUTS_STORAGE"
)
# How long a presigned link to a file in a bucket works (playback and downloads redirect to
# one after the login check; a player seeks with byte ranges on that link until it expires).
STORAGE_LINK_SECONDS = env.int("STORAGE_LINK_SECONDS", default=900)
STORAGES = {
    "default": UPLOADS_STORAGE,
    "outputs": OUTPUTS_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads always stream to a temporary file, never into memory (a 2 GB upload must not grow RSS).
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
FILE_UPLOAD_TEMP_DIR = env("FILE_UPLOAD_TEMP_DIR", default=None)
UPLOAD_MAX_BYTES = min(env.int("UPLOAD_MAX_BYTES", default=2 * 1024**3), 2 * 1024**3)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
ASSET_KEEP_LOCAL_COPY = env.bool("ASSET_KEEP_LOCAL_COPY", default=True)

# E-mail (invitations, password resets): the console by default, SMTP with EMAIL_URL such as
# smtp+tls://user:password@smtp.example.com:587. Django 6.1's MAILERS setting.
_email = env.email_url("EMAIL_URL", default="consolemail://")
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS", False),
    "use_ssl": _email.get("EMAIL_USE_SSL", False),
}
# The console mailer prints e-mails whole (Django's wraps long links: see shakeweb/mail.py).
if _email["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    _email["EMAIL_BACKEND"] = "shakeweb.mail.ConsoleBackend"
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": {k: v for k, v in _smtp_options.items() if v}
        if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
        else {},
    }
}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="shakeweb <shakeweb@localhost>")

# AudioShake. With no key, the dashboard talks to the embedded sandbox.
AUDIOSHAKE_BASE_URL = env(
    "AUDIOSHAKE_BASE_URL",
    default="https://api.audioshake.ai" if AUDIOSHAKE_API_KEY else f"{SITE_URL}/sandbox/api",
)
AUDIOSHAKE_CONNECT_TIMEOUT = env.float("AUDIOSHAKE_CONNECT_TIMEOUT", default=5.0)
AUDIOSHAKE_READ_TIMEOUT = env.float("AUDIOSHAKE_READ_TIMEOUT", default=30.0)
AUDIOSHAKE_RATE_LIMIT = env.float("AUDIOSHAKE_RATE_LIMIT", default=50.0)  # requests/s, < 60
AUDIOSHAKE_MAX_RETRIES = env.int("AUDIOSHAKE_MAX_RETRIES", default=4)
AUDIOSHAKE_BACKOFF_CAP = env.float("AUDIOSHAKE_BACKOFF_CAP", default=60.0)
AUDIOSHAKE_BACKOFF_BASE = env.float("AUDIOSHAKE_BACKOFF_BASE", default=0.5)  # first retry <= 0.5 s
AUDIOSHAKE_MAX_TARGETS = env.int("AUDIOSHAKE_MAX_TARGETS", default=20)
AUDIOSHAKE_METADATA_MAX = env.int("AUDIOSHAKE_METADATA_MAX", default=4096)
# Hosts that output links may point to; the mirror refuses any other host without connecting.
AUDIOSHAKE_OUTPUT_HOSTS = env.list(
    "AUDIOSHAKE_OUTPUT_HOSTS", default=["cdn.audioshake.ai", "api.audioshake.ai"]
)
AUDIOSHAKE_WEBHOOK_SECRET = env("AUDIOSHAKE_WEBHOOK_SECRET", default="")
# The receiver is POST /webhooks/audioshake/ with the secret in a header (or an HMAC of the
# body keyed with it: jobs/views/webhooks.py). AudioShake documents no header or signature, only
# a URL, so /webhooks/audioshake/<secret>/ also works while this is on; its path is redacted in
# every log line. Turn it off when a gateway in front adds the header.
AUDIOSHAKE_WEBHOOK_SECRET_IN_PATH = env.bool("AUDIOSHAKE_WEBHOOK_SECRET_IN_PATH", default=True)
WEBHOOK_MAX_BYTES = env.int("WEBHOOK_MAX_BYTES", default=1024 * 1024)
# Recorded deliveries (up to WEBHOOK_MAX_BYTES each) are deleted after this many days, a few at
# each new delivery and all at once by `manage.py prune_webhook_deliveries`; 0 keeps them.
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=14)
OUTPUT_MAX_BYTES = env.int("OUTPUT_MAX_BYTES", default=4 * 1024**3)

# The poller.
POLLER_BATCH_SIZE = env.int("POLLER_BATCH_SIZE", default=20)
POLLER_LEASE_SECONDS = env.int("POLLER_LEASE_SECONDS", default=120)
POLLER_IDLE_SLEEP = env.float("POLLER_IDLE_SLEEP", default=1.0)
POLLER_CATALOGUE_REFRESH_SECONDS = env.int("POLLER_CATALOGUE_REFRESH_SECONDS", default=3600)
POLLER_USAGE_REFRESH_SECONDS = env.int("POLLER_USAGE_REFRESH_SECONDS", default=3600)
POLLER_BACKOFF_BASE = env.float("POLLER_BACKOFF_BASE", default=1.0)  # cap: AUDIOSHAKE_BACKOFF_CAP
POLLER_DEGRADED_AFTER = env.int("POLLER_DEGRADED_AFTER", default=3)  # failures in a row
POLLER_MAX_ATTEMPTS = env.int("POLLER_MAX_ATTEMPTS", default=10)  # for errors waiting won't cure
POLLER_STOP_GRACE_SECONDS = env.float("POLLER_STOP_GRACE_SECONDS", default=8.0)
# Reconciling a POST /tasks whose outcome is unknown (docs/architecture.md).
POLLER_RECONCILE_GRACE_SECONDS = env.int("POLLER_RECONCILE_GRACE_SECONDS", default=120)
POLLER_RECONCILE_CHECKS = env.int("POLLER_RECONCILE_CHECKS", default=5)
POLLER_RECONCILE_SCAN_LIMIT = env.int("POLLER_RECONCILE_SCAN_LIMIT", default=500)
POLLER_RECONCILE_GIVE_UP_SECONDS = env.int("POLLER_RECONCILE_GIVE_UP_SECONDS", default=86400)
POLLER_LATE_MIN_SECONDS = env.int("POLLER_LATE_MIN_SECONDS", default=600)  # "late" targets

# Notifications (notifications/, docs/operations.md): e-mail and browser notices to a task's
# submitter, chosen per member on their Notifications page; the team webhook (Slack-compatible
# JSON) for finished batches and budget thresholds. The URL is a credential: never logged.
NOTIFY_LATE_AFTER_MINUTES = env.int("NOTIFY_LATE_AFTER_MINUTES", default=30)
NOTIFY_SWEEP_SECONDS = env.int("NOTIFY_SWEEP_SECONDS", default=60)  # late targets, budgets
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", default=8)  # per e-mail or webhook post
NOTIFY_BROWSER_POLL_SECONDS = env.int("NOTIFY_BROWSER_POLL_SECONDS", default=20)
NOTIFY_BROWSER_WINDOW_MINUTES = env.int("NOTIFY_BROWSER_WINDOW_MINUTES", default=60)
NOTIFY_BUDGET_THRESHOLDS = env.list("NOTIFY_BUDGET_THRESHOLDS", cast=int, default=[80, 100])
TEAM_WEBHOOK_URL = env("TEAM_WEBHOOK_URL", default="")
TEAM_WEBHOOK_TIMEOUT = env.float("TEAM_WEBHOOK_TIMEOUT", default=10.0)

# The sandbox: a generated key (var/sandbox-key) unless one is given; never a fixed key.
# Resolved here, so the client (which uses it when AUDIOSHAKE_API_KEY is empty) reads only the
# settings and never the sandbox app.
SANDBOX_API_KEY = env("SANDBOX_API_KEY", default="")
if SANDBOX_ENABLED:
    SANDBOX_API_KEY = sandbox_api_key(configured=SANDBOX_API_KEY, var_dir=VAR_DIR)
SANDBOX_WEBHOOK_URL = env("SANDBOX_WEBHOOK_URL", default="")
SANDBOX_SPEED = env.float("SANDBOX_SPEED", default=1.0)
SANDBOX_MAX_UPLOAD_BYTES = env.int("SANDBOX_MAX_UPLOAD_BYTES", default=2 * 1024**3)
SANDBOX_MAX_TARGETS = env.int("SANDBOX_MAX_TARGETS", default=20)
SANDBOX_METADATA_MAX = env.int("SANDBOX_METADATA_MAX", default=4096)
# GET /models in the documented shape (default), or with the sandbox's own `variants` and
# `residual` fields (the shape the dashboard assumed before jobs/capabilities.py).
SANDBOX_MODELS_EXTENDED = env.bool("SANDBOX_MODELS_EXTENDED", default=False)
# Fault-injection defaults, e.g. SANDBOX_FAULTS='{"latency_ms": 200, "credits_balance": 10}'
# (field names: sandbox/faults.py); POST /sandbox/api/_control/reset returns to these.
SANDBOX_FAULTS = env.json("SANDBOX_FAULTS", default={})
if SANDBOX_ENABLED and not AUDIOSHAKE_API_KEY:
    AUDIOSHAKE_OUTPUT_HOSTS = [*AUDIOSHAKE_OUTPUT_HOSTS, "127.0.0.1", "localhost"]

# With DEBUG off, the sandbox is refused (system check shakeweb.E001: `check --deploy`,
# gunicorn and the poller stop) unless this says the deployment is meant to be a sandbox demo.
SANDBOX_IN_PRODUCTION = env.bool("SANDBOX_IN_PRODUCTION", default=False)

# Content Security Policy: no inline script, nonces for the few script tags we emit.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    # The buckets' origins too: players follow the redirect to a presigned link.
    "media-src": [
        CSP.SELF,
        "blob:",
        *dict.fromkeys(media_origins(UPLOADS_STORAGE) + media_origins(OUTPUTS_STORAGE)),
    ],
    # The stem player fetch()es its byte ranges, following the redirect to the outputs bucket.
    "connect-src": [CSP.SELF, *media_origins(OUTPUTS_STORAGE)],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# Production hardening (what `check --deploy` asks for), on whenever DEBUG is off.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# Preload is on by default in production (check --deploy asks for it); set 0 to opt out.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # plain-HTTP health checks from the container host
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "client_errors": {"()": "shakeweb.logging.ClientErrorsWithoutTraceback"},
        "redact_secrets": {"()": "shakeweb.logging.RedactSecrets"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_errors", "redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler would print every django.* line a second time.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
