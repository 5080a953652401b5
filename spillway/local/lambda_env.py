"""The environment variables the Lambda functions get, for the local stack and the tests.

One function so the local stack (:class:`spillway.local.stack.LocalStack`) and the functional
tests (``tests/functional/conftest.py``) run the app with the same settings; every key is read by
``chalicelib/settings.py`` or by Powertools.
"""

from __future__ import annotations

from spillway.local.embedded import MOTO_ACCOUNT_ID


def lambda_env(*, backend: str, prefix: str, secret: str, max_receive_count: int = 5,
               retry_base_s: int = 2, retry_max_s: int = 30,
               **extra: str) -> dict[str, str]:
    """The variables for ``backend`` (``aws`` or ``postgres``) with queue and table names under
    ``prefix``, the webhook ``secret`` in plain text, the redrive threshold and the worker
    backoff (seconds). Metrics are off (no CloudWatch here), idempotency on; the claim-check
    bucket is named as ``infra/template.yaml`` names it in moto's account. ``extra`` variables
    (e.g. ``BREAKER_OPEN_S="5"``) are added as given. Database URLs and AWS endpoints are the
    caller's: they depend on what it started."""
    return {
        "SPILLWAY_BACKEND": backend,
        "SPILLWAY_QUEUE_PREFIX": prefix,
        "GITHUB_WEBHOOK_SECRET": secret,
        "MAX_RECEIVE_COUNT": str(max_receive_count),
        "RETRY_BASE_S": str(retry_base_s),
        "RETRY_MAX_S": str(retry_max_s),
        "CLAIM_CHECK_BUCKET": f"{prefix}-claim-checks-{MOTO_ACCOUNT_ID}",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_IDEMPOTENCY_DISABLED": "false",
        **extra,
    }
