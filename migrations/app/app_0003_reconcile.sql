-- Reconciliation with GitHub's delivery log (chalicelib/reconciler.py, chalicelib/core/reconcile.py).
-- hook is the configured hook's key: repo:OWNER/REPO:ID, org:ORG:ID or app[:ID].
-- depends: app_0002_normalized

-- Where each hook's scans stand: the high-water mark (newest attempt id a completed scan
-- covered) and, after a run that spent its rate-limit budget, the Link cursor to resume from.
-- not_before: GitHub asked us to wait (Retry-After / X-RateLimit-Reset) until then.
CREATE TABLE reconcile_cursors (
    hook             text PRIMARY KEY,
    high_water_id    bigint,
    resume_cursor    text,
    resume_floor_id  bigint,
    resume_top_id    bigint,
    not_before       timestamptz,
    updated_at       timestamptz NOT NULL
);

-- GUIDs that failed at GitHub and that Spillway did not have: open until stored, answered at
-- GitHub, or past GitHub's 3-day retention. last_requested_at is the cool-down record.
CREATE TABLE reconcile_gaps (
    hook              text        NOT NULL,
    guid              text        NOT NULL,   -- X-GitHub-Delivery
    attempt_id        bigint      NOT NULL,   -- newest attempt seen (what a redelivery targets)
    delivered_at      timestamptz NOT NULL,   -- of that attempt
    event             text        NOT NULL,
    action            text,
    first_seen_at     timestamptz NOT NULL,
    last_requested_at timestamptz,
    requests          integer     NOT NULL DEFAULT 0,
    outcome           text        NOT NULL,   -- the last decision (chalicelib.core.reconcile)
    closed_at         timestamptz,            -- NULL while open
    PRIMARY KEY (hook, guid)
);
CREATE INDEX reconcile_gaps_open_idx ON reconcile_gaps (hook) WHERE closed_at IS NULL;

-- One row per run and hook: what it saw and did (a dry run records nothing).
CREATE TABLE reconcile_runs (
    id                     bigserial   PRIMARY KEY,
    hook                   text        NOT NULL,
    started_at             timestamptz NOT NULL,
    finished_at            timestamptz NOT NULL,
    window_since           timestamptz NOT NULL,
    window_now             timestamptz NOT NULL,
    stopped                text        NOT NULL,  -- completed | budget | rate_limited | error
    pages                  integer     NOT NULL,
    requests               integer     NOT NULL,  -- GitHub API requests spent
    checked                integer     NOT NULL,  -- GUIDs decided
    ok_at_github           integer     NOT NULL,
    failed_at_github       integer     NOT NULL,
    already_stored         integer     NOT NULL,
    redelivery_requested   integer     NOT NULL,
    skipped_cooldown       integer     NOT NULL,
    skipped_outside_window integer     NOT NULL,
    budget_exhausted       integer     NOT NULL,
    gap                    integer     NOT NULL,  -- failed at GitHub and not in Spillway
    rate_remaining         integer,
    error                  text
);
CREATE INDEX reconcile_runs_hook_started_idx ON reconcile_runs (hook, started_at);

-- The decisions of a run other than ok_at_github (those are only counted).
CREATE TABLE reconcile_decisions (
    run_id      bigint NOT NULL REFERENCES reconcile_runs (id) ON DELETE CASCADE,
    guid        text   NOT NULL,
    attempt_id  bigint NOT NULL,
    outcome     text   NOT NULL,
    reason      text   NOT NULL,
    known_as    text,                 -- ledger | accepted | dead_letter
    PRIMARY KEY (run_id, guid)
);
