-- The target queues heavy and batch (chalicelib/core/queues.py TARGET_QUEUES) in the collector's
-- table and its dashboard queries: their depth and oldest age per row, counted in the hourly
-- trends' max_queue_depth and listed by get_queue_depth() between low and the DLQ. Rows written
-- before this migration read 0 / NULL for them.
-- depends: app_0004_edge_metrics app_0004_precedence

ALTER TABLE edge_function_metrics
    ADD COLUMN heavy_depth         integer NOT NULL DEFAULT 0,   -- messages waiting (visible)
    ADD COLUMN batch_depth         integer NOT NULL DEFAULT 0,
    ADD COLUMN heavy_oldest_age_s  double precision,             -- age of the oldest message, s
    ADD COLUMN batch_oldest_age_s  double precision;

-- Same columns as app_0004's view; the queue depth now sums every work queue.
CREATE OR REPLACE VIEW hourly_concurrency_trends AS
SELECT hour, count(*) AS samples, round(avg(current_concurrency), 2) AS avg_concurrency,
       max(peak_concurrency) AS peak_concurrency, max(concurrency_limit) AS concurrency_limit,
       coalesce(sum(throttled_requests), 0) AS throttled_requests,
       round(avg(p95_latency_ms)::numeric, 1) AS avg_p95_latency_ms,
       round(max(p95_latency_ms)::numeric, 1) AS max_p95_latency_ms,
       round(avg(error_rate_pct)::numeric, 2) AS avg_error_rate_pct,
       max(work_depth) AS max_queue_depth
  FROM (SELECT *, date_trunc('hour', collected_at) AS hour,
               high_depth + medium_depth + low_depth + heavy_depth + batch_depth AS work_depth
          FROM edge_function_metrics) m
 GROUP BY hour
 ORDER BY hour DESC;

-- Queue depth per work queue (and the DLQ) from the latest collector row, in
-- chalicelib.core.queues.QUEUES order.
CREATE OR REPLACE FUNCTION get_queue_depth()
RETURNS TABLE (priority text, depth integer, oldest_age_s double precision,
               collected_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT q.priority, q.depth, q.oldest_age_s, m.collected_at
      FROM (SELECT * FROM edge_function_metrics ORDER BY collected_at DESC, id DESC LIMIT 1) m
     CROSS JOIN LATERAL unnest(
           ARRAY['high', 'medium', 'low', 'heavy', 'batch', 'dlq'],
           ARRAY[m.high_depth, m.medium_depth, m.low_depth, m.heavy_depth, m.batch_depth,
                 m.dlq_depth],
           ARRAY[m.high_oldest_age_s, m.medium_oldest_age_s, m.low_oldest_age_s,
                 m.heavy_oldest_age_s, m.batch_oldest_age_s, NULL::double precision])
           WITH ORDINALITY AS q(priority, depth, oldest_age_s, rank)
     ORDER BY q.rank
$$;
