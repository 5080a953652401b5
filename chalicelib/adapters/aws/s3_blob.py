"""S3 adapter for :class:`~chalicelib.ports.BlobPort`: claim-check storage on the ``aws``
backend. References look like ``s3://<bucket>/<key>``."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws.errors import translate_aws_errors
from chalicelib.errors import NotFound

PREFIX = "s3://"


class S3Blob:
    """:class:`~chalicelib.ports.BlobPort` over one S3 bucket (the bucket's lifecycle rule
    expires claim checks; see ``infra/template.yaml``)."""

    def __init__(self, s3_client: Any, bucket: str):
        self._s3 = s3_client
        self.bucket = bucket

    def ref(self, key: str) -> str:
        return f"{PREFIX}{self.bucket}/{key}"

    def _parse(self, ref: str) -> tuple[str, str]:
        bucket, _, key = ref.removeprefix(PREFIX).partition("/")
        if not ref.startswith(PREFIX) or not bucket or not key:
            raise NotFound(f"not an s3:// claim-check reference: {ref!r}")
        return bucket, key

    def put(self, key: str, data: bytes) -> str:
        """``PutObject``; returns ``s3://<bucket>/<key>``."""
        with translate_aws_errors(f"put_object {self.bucket}/{key}"):
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return self.ref(key)

    def get(self, ref: str) -> bytes:
        """``GetObject``. Raises :class:`NotFound` for a missing object or a bad reference."""
        bucket, key = self._parse(ref)
        with translate_aws_errors(f"get_object {ref}"):
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def delete(self, ref: str) -> None:
        """``DeleteObject`` (deleting a missing object is not an error)."""
        bucket, key = self._parse(ref)
        with translate_aws_errors(f"delete_object {ref}"):
            self._s3.delete_object(Bucket=bucket, Key=key)
