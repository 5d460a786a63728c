"""dq_platform: a data-quality platform on Dagster, driven by one YAML data contract per dataset.

Data flows one way: contract/ -> engine/ and io/ -> reports/ -> defs/ and alerts/ -> definitions.py
(what Dagster loads) -> ops/ -> demo/ -> cli. names.py and settings.py hold every name and every
environment variable. docs/architecture.md has the map.
"""
