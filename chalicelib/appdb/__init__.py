"""The application database writer: the delivery ledger plus normalized upserts
(:class:`AppDatabase`), and the rule that makes a payload storable in PostgreSQL
(:func:`sanitize`).

Files: ``sanitize`` (NUL and lone surrogates), ``statements`` (the SQL, the out-of-order
rule, :func:`prepare`), ``store`` (:class:`AppDatabase`: ``store`` and ``store_batch``).
"""

from chalicelib.appdb.sanitize import REPLACEMENT, sanitize
from chalicelib.appdb.statements import CLEARABLE, IMMUTABLE, TRAILER, upsert_sql
from chalicelib.appdb.store import AppDatabase, Outcome

__all__ = ["CLEARABLE", "IMMUTABLE", "REPLACEMENT", "TRAILER", "AppDatabase", "Outcome",
           "sanitize", "upsert_sql"]
