-- The original strategy's metrics table and its dashboard queries. One row per run of the
-- scheduled collector (chalicelib/collector.py; every minute on AWS, every N seconds on the
-- local stack). A NULL figure is one the collector could not read; notes says why.
-- depends: app_0003_reconcile

CREATE TABLE edge_function_metrics (
    id                    bigserial   PRIMARY KEY,
    collected_at          timestamptz NOT NULL,
    source                text        NOT NULL,   -- cloudwatch | local
    current_concurrency   integer,                -- edge executions in flight (last minute)
    peak_concurrency      integer,                -- the highest since the previous row
    concurrency_limit     integer,                -- the edge's reserved concurrency
    throttled_requests    integer,                -- edge invocations throttled since the previous row
    high_depth            integer     NOT NULL,   -- messages waiting (visible), per queue
    medium_depth          integer     NOT NULL,
    low_depth             integer     NOT NULL,
    dlq_depth             integer     NOT NULL,
    high_oldest_age_s     double precision,       -- age of the oldest message, seconds
    medium_oldest_age_s   double precision,
    low_oldest_age_s      double precision,
    breaker_state         text,                   -- closed | open | half_open
    p95_latency_ms        double precision,       -- edge acknowledgement latency, milliseconds
    error_rate_pct        double precision,       -- edge 5xx + throttles, percent of requests
    notes                 jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX edge_function_metrics_collected_idx ON edge_function_metrics (collected_at);

-- Hourly concurrency trends (newest hour first).
CREATE VIEW hourly_concurrency_trends AS
SELECT date_trunc('hour', collected_at)        AS hour,
       count(*)                                AS samples,
       round(avg(current_concurrency), 2)      AS avg_concurrency,
       max(peak_concurrency)                   AS peak_concurrency,
       max(concurrency_limit)                  AS concurrency_limit,
       coalesce(sum(throttled_requests), 0)    AS throttled_requests,
       round(avg(p95_latency_ms)::numeric, 1)  AS avg_p95_latency_ms,
       round(max(p95_latency_ms)::numeric, 1)  AS max_p95_latency_ms,
       round(avg(error_rate_pct)::numeric, 2)  AS avg_error_rate_pct,
       max(high_depth + medium_depth + low_depth) AS max_queue_depth
  FROM edge_function_metrics
 GROUP BY 1
 ORDER BY 1 DESC;

-- Queue processing performance by priority over the last hour, from the delivery ledger.
-- completed: stored; failed: any other ledger status (deliveries that never reached the
-- ledger are in the dead-letter queue: dlq_depth); avg_processing_s: processed_at - received_at.
CREATE VIEW queue_processing_performance AS
SELECT p.priority,
       count(d.delivery_id) FILTER (WHERE d.status = 'stored')  AS completed,
       count(d.delivery_id) FILTER (WHERE d.status <> 'stored') AS failed,
       count(d.delivery_id) FILTER (WHERE d.attempts > 1)       AS retried,
       round(avg(extract(epoch FROM d.processed_at - d.received_at))::numeric, 3)
                                                                AS avg_processing_s,
       round((percentile_cont(0.95) WITHIN GROUP (
             ORDER BY extract(epoch FROM d.processed_at - d.received_at)))::numeric, 3)
                                                                AS p95_processing_s
  FROM (VALUES ('high', 1), ('medium', 2), ('low', 3)) AS p(priority, rank)
  LEFT JOIN webhook_deliveries d
         ON d.priority = p.priority AND d.processed_at >= now() - interval '1 hour'
 GROUP BY p.priority, p.rank
 ORDER BY p.rank;

-- Queue depth by priority (and the DLQ) from the latest collector row.
CREATE FUNCTION get_queue_depth()
RETURNS TABLE (priority text, depth integer, oldest_age_s double precision,
               collected_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT q.priority, q.depth, q.oldest_age_s, m.collected_at
      FROM (SELECT * FROM edge_function_metrics ORDER BY collected_at DESC, id DESC LIMIT 1) m
     CROSS JOIN LATERAL (VALUES ('high',   m.high_depth,   m.high_oldest_age_s,   1),
                                ('medium', m.medium_depth, m.medium_oldest_age_s, 2),
                                ('low',    m.low_depth,    m.low_oldest_age_s,    3),
                                ('dlq',    m.dlq_depth,    NULL::double precision, 4))
           AS q(priority, depth, oldest_age_s, rank)
     ORDER BY q.rank
$$;
