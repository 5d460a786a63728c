"""The resources every dataset's assets and sensors use, chosen per environment in one place.

Each is a Dagster resource, so the UI's resources page shows how the platform is configured:
where tables and files live, and which variable holds the masking key — a secret appears there
as the name of its environment variable (`dg.EnvVar`), never as its value. `from_settings()`
builds each from the environment variables listed in settings.py; tests pass values directly.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from dq_platform import settings
from dq_platform.defs.io_manager import DeltaIOManager
from dq_platform.engine.masking import ENV_VAR as MASKING_KEY_VAR
from dq_platform.engine.masking import MaskingKey, resolve_masking_key
from dq_platform.io.landing_zones import LandingZone, landing_zone
from dq_platform.io.warehouse import Warehouse


class LandingZoneResource(dg.ConfigurableResource):
    """Where files land: a folder or an s3://bucket/prefix (DQ_LANDING_DIR / DQ_LANDING_URI)."""

    uri: str

    def zone(self) -> LandingZone:
        return landing_zone(self.uri)


class MaskingKeyResource(dg.ConfigurableResource):
    """The secret key of the masked layer's deterministic masking (DQ_MASKING_KEY, >= 16 characters)."""

    key: str | None = Field(
        default=None,
        description="the masking secret; configure it as the DQ_MASKING_KEY environment variable, never as a literal",
    )
    allow_dev_key: bool = Field(
        default=False,
        description="mask with the public development key when no key is set (demo only: its output is not protected)",
    )

    def resolve(self) -> MaskingKey:
        """The key; without one, the run fails with the fix (or, when allowed, uses the dev key loudly)."""
        key = self.key.get_value() if isinstance(self.key, dg.EnvVar) else self.key  # unresolved: outside a run
        value = key or settings.get(MASKING_KEY_VAR)  # set after the definitions were loaded
        return resolve_masking_key(allow_dev_key=self.allow_dev_key, environ={MASKING_KEY_VAR: value} if value else {})

    @classmethod
    def from_settings(cls) -> MaskingKeyResource:
        key = dg.EnvVar(MASKING_KEY_VAR) if settings.is_set(MASKING_KEY_VAR) else None
        return cls(key=key, allow_dev_key=settings.flag("DQ_ALLOW_DEV_MASKING_KEY"))


def platform_resources(warehouse_root: str | None = None, landing: str | None = None) -> dict:
    """The resources of the code location: local folders by default, s3:// URIs in production."""
    warehouse = Warehouse(root=warehouse_root or settings.warehouse_uri())
    return {
        "warehouse": warehouse,
        "io_manager": DeltaIOManager(warehouse=warehouse),
        "landing": LandingZoneResource(uri=landing or settings.landing_uri()),
        "masking": MaskingKeyResource.from_settings(),
    }
