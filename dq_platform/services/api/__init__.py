"""The read-only data API (FastAPI): `create_app()`; served by `dq-platform api`."""

from dq_platform.services.api.app import create_app

__all__ = ["create_app"]
