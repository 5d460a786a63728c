"""The Prometheus exporter: `dq-platform metrics serve` answers `/metrics` from Dagster's run and event storage.

- catalog.py: every metric's name, type, labels and HELP text (the list docs/metrics.md documents)
- state.py: the running totals and latest values, fed one finished run (or delivery) at a time
- reader.py: reads the storage incrementally, by a cursor over event storage ids, into the state
- exporter.py: the prometheus_client collector and HTTP server
"""
