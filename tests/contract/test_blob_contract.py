"""BlobPort contract: claim-check storage on S3 and in PostgreSQL."""

from __future__ import annotations

import pytest

from chalicelib.errors import NotFound


def test_put_get_delete(blob_backend):
    b = blob_backend.port
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value
    ref = b.put("deliveries/abc.json", data)
    assert ref.startswith({"aws": "s3://", "postgres": "pg://blobs/"}[blob_backend.kind])
    assert b.get(ref) == data
    assert b.put("deliveries/abc.json", b"v2") == ref  # overwrite keeps the reference
    assert b.get(ref) == b"v2"
    b.delete(ref)
    with pytest.raises(NotFound):
        b.get(ref)
    b.delete(ref)  # deleting twice is fine


def test_missing_and_malformed_refs_are_not_found(blob_backend):
    b = blob_backend.port
    ref = b.put("k", b"")
    assert b.get(ref) == b""
    with pytest.raises(NotFound):
        b.get(ref + "-missing")
    with pytest.raises(NotFound):
        b.get("ftp://nowhere/x")
