"""What the audit log records: one `Action` per kind of event, and how the request came in.

Plain `TextChoices`, importable before the app registry is ready (views name them at import)."""

from django.db import models


class Action(models.TextChoices):
    ASSET_UPLOADED = "asset_uploaded", "Uploaded an asset"
    ASSET_URL_REGISTERED = "asset_url_registered", "Registered a URL"
    ASSET_RENAMED = "asset_renamed", "Renamed an asset"
    ASSET_DELETED = "asset_deleted", "Deleted an asset"
    TASK_SUBMITTED = "task_submitted", "Submitted a task"
    TASK_RERUN = "task_rerun", "Re-ran a task"
    TASK_CANCELLED = "task_cancelled", "Cancelled a task"
    TASK_DELETED = "task_deleted", "Deleted a task"
    BUDGET_OVERRIDDEN = "budget_overridden", "Overrode a budget"
    OUTPUT_DOWNLOADED = "output_downloaded", "Downloaded outputs"
    APPROVED = "approved", "Approved a task"
    DECLINED = "declined", "Declined a task"
    ROLE_CHANGED = "role_changed", "Changed a role"
    COST_ACCESS_CHANGED = "cost_access_changed", "Changed cost access"
    MEMBER_ACTIVE_CHANGED = "member_active_changed", "(De)activated a member"
    PROJECT_CREATED = "project_created", "Created a project"
    BUDGET_CHANGED = "budget_changed", "Changed a project or its budget"
    TOKEN_CREATED = "token_created", "Created an API token"
    TOKEN_REVOKED = "token_revoked", "Revoked an API token"
    API_READ = "api_read", "Read through the API"
    API_REFUSED = "api_refused", "API call refused"
    AUDIT_EXPORTED = "audit_exported", "Exported the audit log"


class Via(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    SYSTEM = "system", "System"
