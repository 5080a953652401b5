"""The scheduled metrics collector: queue depths and ages, the breaker's state, the edge's
concurrency, throttles, p95 latency and error rate, once a minute into EMF metrics and the
``edge_function_metrics`` table (``migrations/app/app_0004_edge_metrics.sql``). Never on the
hot path: it runs as its own scheduled function (``app.py`` ``collect_metrics``)."""
