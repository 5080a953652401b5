"""The edge's window figures (pure): nearest-rank p95, error rate, in-flight peak."""

from chalicelib.core.edge_window import EdgeWindow, percentile


def test_percentile_nearest_rank():
    assert percentile([], 0.95) is None
    assert percentile([5.0], 0.95) == 5.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_window_counts_peak_errors_and_resets():
    w = EdgeWindow()
    assert [w.started() for _ in range(3)] == [1, 2, 3]
    w.finished(202, 0.001)
    w.finished(500, 0.002)
    f = w.take()
    assert (f.requests, f.errors, f.current_in_flight, f.peak_in_flight) == (2, 1, 1, 3)
    assert f.error_rate_pct == 50.0 and f.p95_latency_ms == 2.0
    g = w.take()  # a new window starts from what is still in flight
    assert (g.requests, g.peak_in_flight, g.p95_latency_ms, g.error_rate_pct) == (0, 1, None,
                                                                                  None)


def test_window_keeps_a_bounded_number_of_samples():
    w = EdgeWindow(max_samples=3)
    for latency in (9.0, 1.0, 1.0, 1.0):
        w.started()
        w.finished(200, latency)
    assert w.take().p95_latency_ms == 1000.0  # the 9 s sample was dropped
