"""S3 adapter for :class:`~chalicelib.ports.BlobPort`: claim-check storage on the ``aws``
backend. References look like ``s3://<bucket>/<key>``."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws.errors import translate_aws_error
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
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise translate_aws_error(exc, f"put_object {self.bucket}/{key}") from exc
        return self.ref(key)

    def get(self, ref: str) -> bytes:
        """``GetObject``. Raises :class:`NotFound` for a missing object or a bad reference."""
        bucket, key = self._parse(ref)
        try:
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise translate_aws_error(exc, f"get_object {ref}") from exc

    def delete(self, ref: str) -> None:
        """``DeleteObject`` (deleting a missing object is not an error)."""
        bucket, key = self._parse(ref)
        try:
            self._s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise translate_aws_error(exc, f"delete_object {ref}") from exc
