"""Per-run reports built from Dagster's run storage: the execution report (HTML, JSON, markdown), the
quarantine extract, and the one-line root cause of a failed step.
"""
