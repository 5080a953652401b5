"""Pure normalisation of GitHub webhook payloads into rows for the application database.

:func:`normalize` extracts rows for the normalized tables (``migrations/app/``). Keys are
GitHub ids (ints); objects whose id is missing or of the wrong type are skipped. Unknown events
give the repository and sender rows only. Payload shapes follow GitHub's "Webhook events and
payloads" docs and ``@octokit/webhooks-schemas``; every field is optional here. Strings bound
for indexed columns (logins, full names, refs, SHAs, commit authors) longer than a btree entry
can hold are dropped (:data:`MAX_INDEXED_BYTES`), so they never fail the delivery's
transaction. Total: it never raises on odd input.

Row dicts hold Python values ready for psycopg: ``int``, ``str``, ``bool``, ``None``, aware
``datetime`` (UTC) and ``list[str]``. Missing fields are ``None``. Rows of each table are
de-duplicated by key and sorted by key, so concurrent writers lock rows in the same order.

Files: ``coerce`` (field coercion), ``rows`` (:class:`NormalizedRows`, :data:`KEYS`, the
collector), ``builders`` (one row builder per table), ``handlers`` (per-event extraction and
:func:`normalize`). Making a payload storable in PostgreSQL (``sanitize``) is the application
database writer's rule: :mod:`chalicelib.appdb`.

May import: the standard library and :mod:`chalicelib.core`; no I/O, no vendor SDKs.
"""

from chalicelib.core.normalize.coerce import MAX_INDEXED_BYTES
from chalicelib.core.normalize.handlers import normalize
from chalicelib.core.normalize.rows import KEYS, NormalizedRows

__all__ = ["KEYS", "MAX_INDEXED_BYTES", "NormalizedRows", "normalize"]
