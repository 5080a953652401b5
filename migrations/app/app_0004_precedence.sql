-- Tie rank of a row version (chalicelib/core/normalize/precedence.py): an upsert replaces a
-- row only when (event time, precedence, last_seen_at, last_delivery_id) of the new version is
-- >= the stored one, so ties on GitHub's one-second updated_at resolve the same way whatever
-- order the deliveries arrive in (docs/DESIGN.md, "Out-of-order ties").
-- depends: app_0003_reconcile

ALTER TABLE repositories  ADD COLUMN precedence smallint NOT NULL DEFAULT 0;
ALTER TABLE users         ADD COLUMN precedence smallint NOT NULL DEFAULT 0;
ALTER TABLE pull_requests ADD COLUMN precedence smallint NOT NULL DEFAULT 0;
ALTER TABLE issues        ADD COLUMN precedence smallint NOT NULL DEFAULT 0;
ALTER TABLE reviews       ADD COLUMN precedence smallint NOT NULL DEFAULT 0;
ALTER TABLE comments      ADD COLUMN precedence smallint NOT NULL DEFAULT 0;
ALTER TABLE stars         ADD COLUMN precedence smallint NOT NULL DEFAULT 0;
