"""The pieces every part of the contract model shares.

`ContractError` is what a contract that cannot be used raises (its message names file, line,
field and reason); `_Strict` is the base of every section's model (unknown fields are errors,
models are frozen); `NAME_RE` is the shape of every name that becomes an asset, table, column
or rule id.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME_RE = r"^[a-z][a-z0-9_]*$"


class ContractError(ValueError):
    """A contract that cannot be used; its message names file, line, field and reason."""


def check_cron(value: str | None, error: str) -> str | None:
    """A cron string Dagster's own schedules accept, else ValueError(error with {value}).

    Dagster's parser, not a look-alike, so a contract accepts exactly what its schedules can run;
    it is imported only while a contract that declares a cron is validated."""
    if value is None:
        return None
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(value):
        raise ValueError(error.format(value=value))
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)
