-- The postgres backend's queues, shared state, claim-check blobs and idempotency records
-- (chalicelib/adapters/pg_*.py). Instants are timestamptz written from the adapters' injected
-- clock (epoch seconds via to_timestamp), never from now(), so tests can move time.

-- One row per message of the priority trio and the dead-letter queue ('dlq').
-- Visible when visible_at <= now; in flight when received (receipt_handle set) and hidden;
-- delayed when never received and hidden.
CREATE TABLE queue_messages (
    id             bigserial   PRIMARY KEY,                  -- delivery order within a queue
    message_id     uuid        NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    queue          text        NOT NULL,                     -- high | medium | low | dlq
    body           text        NOT NULL,
    attributes     jsonb       NOT NULL DEFAULT '{}'::jsonb, -- string message attributes
    sent_at        timestamptz NOT NULL,
    visible_at     timestamptz NOT NULL,
    receive_count  integer     NOT NULL DEFAULT 0,           -- SQS ApproximateReceiveCount
    receipt_handle uuid                                      -- new on every receive
);
CREATE INDEX queue_messages_ready ON queue_messages (queue, visible_at, id);
CREATE INDEX queue_messages_receipt ON queue_messages (receipt_handle)
    WHERE receipt_handle IS NOT NULL;

-- Shared state (breakers, leases): compare-and-set on version. expires_at is epoch seconds,
-- checked in code.
CREATE TABLE queue_state (
    key        text             PRIMARY KEY,
    version    integer          NOT NULL,
    data       jsonb            NOT NULL DEFAULT '{}'::jsonb,
    expires_at double precision
);

-- Claim-check payloads.
CREATE TABLE blobs (
    key        text        PRIMARY KEY,
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Powertools idempotency records, the DynamoDBPersistenceLayer's layout: expiration in epoch
-- seconds, in_progress_expiration in epoch milliseconds (as Powertools writes them).
CREATE TABLE idempotency_records (
    id                     text   PRIMARY KEY,
    status                 text   NOT NULL,          -- INPROGRESS | COMPLETED
    expiration             bigint NOT NULL,
    in_progress_expiration bigint,
    data                   text,                     -- the serialized response
    validation             text                      -- payload hash when validation is on
);
CREATE INDEX idempotency_records_expiration ON idempotency_records (expiration);
