-- Indexes for housekeeping (spillway/housekeeping.py), the postgres backend's stand-in for
-- DynamoDB TTL and the S3 lifecycle rule: each pass deletes a bounded batch of rows past their
-- expiry, found through these indexes instead of a scan of the whole table.
-- (idempotency_records.expiration is indexed since queue_0001.)
-- depends: queue_0001_queue

-- Claim-check blobs older than the retention (14 days, as the S3 lifecycle rule).
CREATE INDEX blobs_created_at ON blobs (created_at);

-- State items with an expiry (breaker audit items, leases); most items have none.
CREATE INDEX queue_state_expires_at ON queue_state (expires_at) WHERE expires_at IS NOT NULL;
