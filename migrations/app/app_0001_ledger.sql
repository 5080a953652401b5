-- The delivery ledger: one row per (hook, delivery). The primary key is the idempotency key of
-- the workers: a redelivered message (SQS at-least-once, or a GitHub redelivery, which keeps the
-- same X-GitHub-Delivery GUID) inserts nothing the second time.

CREATE TABLE webhook_deliveries (
    hook_id        text        NOT NULL DEFAULT '',   -- X-GitHub-Hook-ID, '' when unknown
    delivery_id    text        NOT NULL,              -- X-GitHub-Delivery GUID
    event          text        NOT NULL,              -- X-GitHub-Event
    action         text,                              -- payload "action", NULL when absent
    priority       text        NOT NULL,              -- high | medium | low
    received_at    timestamptz NOT NULL,              -- when the edge accepted it
    processed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts       integer     NOT NULL DEFAULT 1,    -- SQS ApproximateReceiveCount when stored
    status         text        NOT NULL DEFAULT 'stored',
    payload        jsonb       NOT NULL,              -- sanitized (no NUL, no lone surrogates)
    payload_bytes  integer     NOT NULL,              -- size of the body as received, bytes
    sanitized      boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (hook_id, delivery_id)
);

CREATE INDEX webhook_deliveries_event_received_idx
    ON webhook_deliveries (event, received_at);
CREATE INDEX webhook_deliveries_received_idx
    ON webhook_deliveries (received_at);
CREATE INDEX webhook_deliveries_delivery_idx
    ON webhook_deliveries (delivery_id);
