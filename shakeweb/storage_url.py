"""One setting per storage: `UPLOADS_STORAGE` and `OUTPUTS_STORAGE` are either empty (a folder
under MEDIA_ROOT, the default) or an S3 URL, turned here into a `STORAGES` entry.

    s3://BUCKET[/PREFIX][?endpoint_url=https://minio.internal:9000&region_name=eu-west-1
                         &addressing_style=path|virtual]

Credentials never go in the URL: boto3 finds them as usual (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, an instance or task role, AWS_PROFILE). Every object stays private;
browsers get short-lived presigned links (`jobs.storage.signed_url`) after the login check.
"""

import importlib.util
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ImproperlyConfigured

S3_BACKEND = "storages.backends.s3.S3Storage"
FILESYSTEM_BACKEND = "django.core.files.storage.FileSystemStorage"
_QUERY_KEYS = ("endpoint_url", "region_name", "addressing_style")
# S3File (what storage.open() returns) copies a whole object before the first read; this
# keeps that copy on disk past 8 MiB rather than in memory, for code that still calls open().
_MAX_MEMORY = 8 * 1024 * 1024


def storage_config(url: str, *, local: Path | None, setting: str) -> dict:
    """The STORAGES entry for `url` (empty: FileSystemStorage at `local`, or at MEDIA_ROOT as
    it is when the storage is first used when `local` is None)."""
    url = url.strip()
    if not url:
        options = {"location": str(local)} if local is not None else {}
        return {"BACKEND": FILESYSTEM_BACKEND, "OPTIONS": options}
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.hostname:
        raise ImproperlyConfigured(
            f"{setting} must be empty (files under MEDIA_ROOT) or s3://bucket/prefix, "
            f"not {parts.scheme or 'a URL without a scheme'}://…"
        )
    query = dict(parse_qsl(parts.query))
    unknown = sorted(set(query) - set(_QUERY_KEYS))
    if unknown:
        raise ImproperlyConfigured(
            f"{setting}: unknown option {', '.join(unknown)} (known: {', '.join(_QUERY_KEYS)})"
        )
    if importlib.util.find_spec("storages") is None:
        raise ImproperlyConfigured(
            f"{setting} is a bucket, but django-storages is not installed: "
            "pip install '.[s3]' (the s3 extra)"
        )
    style = query.get("addressing_style") or ("path" if query.get("endpoint_url") else "virtual")
    if style not in ("path", "virtual"):
        raise ImproperlyConfigured(f"{setting}: addressing_style is path or virtual")
    options = {
        "bucket_name": parts.hostname,
        "location": parts.path.strip("/"),
        "endpoint_url": query.get("endpoint_url") or None,
        "region_name": query.get("region_name") or None,
        "addressing_style": style,
        "signature_version": "s3v4",
        "querystring_auth": True,  # private objects, presigned links only
        "default_acl": None,
        "file_overwrite": True,  # names are random (uuid): no HEAD before each write
        "max_memory_size": _MAX_MEMORY,
    }
    return {"BACKEND": S3_BACKEND, "OPTIONS": options}


def media_origins(config: dict) -> list[str]:
    """The origins a presigned link of this storage can point at, for the CSP's media-src
    (the players follow the dashboard's redirect to the bucket)."""
    if config["BACKEND"] != S3_BACKEND:
        return []
    options = config["OPTIONS"]
    bucket, endpoint = options["bucket_name"], options["endpoint_url"]
    if endpoint:
        parts = urlsplit(endpoint)
        host = parts.netloc
        if options["addressing_style"] == "virtual":
            host = f"{bucket}.{host}"
        return [f"{parts.scheme}://{host}"]
    region = options["region_name"]
    origins = [f"https://{bucket}.s3.amazonaws.com"]
    if region:
        origins.append(f"https://{bucket}.s3.{region}.amazonaws.com")
    return origins
