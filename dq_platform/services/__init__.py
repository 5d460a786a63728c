"""Long-running services for the people around the platform who never open the Dagster UI: the
Prometheus exporter, the read-only data API and the stakeholder dashboard. Each reads the same
sources of truth as `dq-platform audit` (Dagster's run and event storage) and the Delta warehouse
(masked, gold and semantic tables only) through the modules below it; none writes.
"""
