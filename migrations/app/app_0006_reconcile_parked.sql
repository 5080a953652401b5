-- A reconciler run that did not check its hook's log (parked by GitHub, or stopped on an error)
-- says so (chalicelib/reconcile/runner.py): its gap is unknown, not 0. parked_until: GitHub's
-- wait (Retry-After / X-RateLimit-Reset) bounded to an hour (chalicelib/core/reconcile.py
-- MAX_WAIT_S). redelivery_unconfirmed: redelivery requests sent without an answer in time,
-- counted as asked (GitHub may have accepted them). Rows written before this read false / NULL / 0.
-- depends: app_0003_reconcile
ALTER TABLE reconcile_runs
    ADD COLUMN gap_unknown            boolean     NOT NULL DEFAULT false,
    ADD COLUMN parked_until           timestamptz,
    ADD COLUMN redelivery_unconfirmed integer     NOT NULL DEFAULT 0;

-- When the cursor's not_before was set, so a wait is bounded from then (not from each later
-- run's updated_at); NULL for rows written before this migration (bounded from updated_at).
ALTER TABLE reconcile_cursors ADD COLUMN not_before_set_at timestamptz;
