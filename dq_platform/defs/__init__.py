"""Dagster's definitions, built from contracts: one module per layer (raw, clean, masked, gold) composed
by dataset.py, plus checks, sensors, a file's run now (file_runs.py) and batches of them (batch.py), jobs, review, extract, maintenance, health and the resources
(resources.py). Where a contract becomes assets: dataset.build_dataset.
"""
