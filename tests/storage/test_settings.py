"""UPLOADS_STORAGE / OUTPUTS_STORAGE: one setting each, turned into a STORAGES entry, and the
bucket's origin allowed for the players (CSP media-src)."""

import importlib
import importlib.util
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from storages.backends.s3 import S3Storage

import shakeweb.settings as shipped
from shakeweb.storage_url import FILESYSTEM_BACKEND, S3_BACKEND, media_origins, storage_config


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_empty_means_a_folder() -> None:
    """No URL: FileSystemStorage, at the given folder or (None) at MEDIA_ROOT."""
    assert storage_config("", local=Path("/srv/x"), setting="OUTPUTS_STORAGE") == {
        "BACKEND": FILESYSTEM_BACKEND,
        "OPTIONS": {"location": "/srv/x"},
    }
    assert storage_config(" ", local=None, setting="UPLOADS_STORAGE")["OPTIONS"] == {}
    assert media_origins(storage_config("", local=None, setting="UPLOADS_STORAGE")) == []


def test_s3_url_gives_a_private_bucket_with_its_prefix() -> None:
    """s3://bucket/prefix?...: S3Storage, private (presigned links), the prefix as location."""
    config = storage_config(
        "s3://media-bucket/shake/outputs/?region_name=eu-west-1",
        local=None,
        setting="OUTPUTS_STORAGE",
    )
    assert config["BACKEND"] == S3_BACKEND
    options = config["OPTIONS"]
    assert options["bucket_name"] == "media-bucket"
    assert options["location"] == "shake/outputs"
    assert options["region_name"] == "eu-west-1"
    assert options["querystring_auth"] is True
    assert options["default_acl"] is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://bucket.example.com/x", "must be empty (files under MEDIA_ROOT) or s3://"),
        ("s3:///no-bucket", "must be empty"),
        ("s3://bucket/x?secret_key=abc", "unknown option secret_key"),
        ("s3://bucket/x?addressing_style=sideways", "addressing_style is path or virtual"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, message: str) -> None:
    """A URL that is not a bucket, or an option we do not read, stops the start with why."""
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        storage_config(url, local=None, setting="OUTPUTS_STORAGE")


@pytest.mark.parametrize(
    "url",
    [
        "s3://shake-media/outputs?region_name=eu-west-1",
        "s3://shake-media/outputs?region_name=us-east-1",
        "s3://shake-media/outputs?endpoint_url=http://127.0.0.1:9000",
        "s3://shake-media/outputs?endpoint_url=https://minio.internal:9000&addressing_style=virtual",
    ],
)
def test_media_origins_cover_the_presigned_links(url: str, monkeypatch) -> None:
    """The origin of a real presigned link (boto3 signs offline) is one media_origins allows."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    config = storage_config(url, local=None, setting="OUTPUTS_STORAGE")
    link = S3Storage(**config["OPTIONS"]).url("a/b.wav", expire=60)
    assert _origin(link) in media_origins(config)


def test_csp_allows_the_configured_buckets(monkeypatch) -> None:
    """Settings built with both storages in buckets put their origins in media-src."""
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.setenv("UPLOADS_STORAGE", "s3://up/u?endpoint_url=http://127.0.0.1:9000")
    monkeypatch.setenv("OUTPUTS_STORAGE", "s3://out/o?region_name=eu-west-1")
    try:
        reloaded = importlib.reload(shipped)
        media = reloaded.SECURE_CSP["media-src"]
        assert "http://127.0.0.1:9000" in media
        assert "https://out.s3.eu-west-1.amazonaws.com" in media
        assert reloaded.STORAGES["default"]["BACKEND"] == S3_BACKEND
    finally:
        monkeypatch.undo()
        importlib.reload(shipped)


def test_a_bucket_without_the_s3_extra_says_what_to_install(monkeypatch) -> None:
    """s3://… with django-storages missing stops the start with the extra to install."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "storages" else real(name, *a)
    )
    with pytest.raises(ImproperlyConfigured, match=r"pip install '\.\[s3\]'"):
        storage_config("s3://bucket/x", local=None, setting="UPLOADS_STORAGE")
