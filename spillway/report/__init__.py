"""Run reports for ``spillway demo --report DIR`` and ``spillway loadtest --report DIR``: PNG
plots over time (:mod:`spillway.report.plots`) from the live dashboard's sampler
(:mod:`spillway.report.recorder`) and one ``index.html`` with the summary table
(:mod:`spillway.report.html`)."""
