"""The streaming handler: SHA-256 while writing, and the size limit enforced chunk by chunk."""

import hashlib
import os

import pytest
from django.core.files.uploadhandler import SkipFile

from jobs.upload_handlers import HashingUploadHandler

MiB = 1024 * 1024


def start(handler, name="big.wav", content_length=None):
    handler.new_file("files", name, "audio/wav", content_length, None, {})


def test_hash_is_computed_while_streaming(upload_dir):
    """The file handed to the view carries the SHA-256 of exactly the bytes received."""
    handler = HashingUploadHandler(max_bytes=10 * MiB)
    start(handler)
    chunks = [os.urandom(MiB), os.urandom(MiB), b"tail"]
    for chunk in chunks:
        handler.receive_data_chunk(chunk, 0)
    upload = handler.file_complete(2 * MiB + 4)
    assert upload.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert upload.read() == b"".join(chunks)
    assert os.path.dirname(upload.temporary_file_path()) == str(upload_dir)
    upload.close()
    assert list(upload_dir.iterdir()) == []


def test_limit_stops_at_the_crossing_chunk(upload_dir):
    """The chunk that crosses the limit is never written: the temporary file is deleted at
    once and the refusal is recorded with a clear message."""
    handler = HashingUploadHandler(max_bytes=int(2.5 * MiB))
    start(handler)
    handler.receive_data_chunk(bytes(MiB), 0)
    handler.receive_data_chunk(bytes(MiB), MiB)
    path = handler.file.temporary_file_path()
    assert os.path.getsize(path) == 2 * MiB
    with pytest.raises(SkipFile):
        handler.receive_data_chunk(bytes(MiB), 2 * MiB)
    assert not os.path.exists(path)
    assert list(upload_dir.iterdir()) == []
    [refusal] = handler.refusals
    assert refusal.file_name == "big.wav"
    assert refusal.message == "The file is larger than the 2.5\xa0MB upload limit."


def test_declared_part_length_is_refused_before_storing(upload_dir):
    """A part that declares its length over the limit is refused before a temp file exists."""
    handler = HashingUploadHandler(max_bytes=MiB)
    with pytest.raises(SkipFile):
        start(handler, content_length=2 * MiB)
    assert list(upload_dir.iterdir()) == []
    assert len(handler.refusals) == 1


def test_refusal_does_not_touch_the_previous_file(upload_dir):
    """Refusing the second file of a request keeps the first one intact."""
    handler = HashingUploadHandler(max_bytes=MiB)
    start(handler, "first.wav")
    handler.receive_data_chunk(b"abc", 0)
    first = handler.file_complete(3)
    with pytest.raises(SkipFile):
        start(handler, "second.wav", content_length=2 * MiB)
    assert os.path.exists(first.temporary_file_path())
    first.close()


def test_interrupted_upload_removes_the_partial_file(upload_dir):
    """A client that disconnects mid-file leaves no partial temp file."""
    handler = HashingUploadHandler(max_bytes=MiB)
    start(handler)
    handler.receive_data_chunk(b"partial", 0)
    handler.upload_interrupted()
    assert list(upload_dir.iterdir()) == []


def test_hostile_extension_never_reaches_the_file_system(upload_dir):
    """The temporary file's suffix is fixed, whatever the client's file name says."""
    handler = HashingUploadHandler(max_bytes=MiB)
    start(handler, "a." + "x" * 300)
    assert handler.file.temporary_file_path().endswith(".upload")
    handler.file.close()
