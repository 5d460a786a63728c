"""What a contract that does not load contributes: one placeholder asset that shows its error.

A broken contract disables only its own dataset. So that the failure is not silent, the dataset
still appears in the UI as `<name>_contract` in the `broken_contracts` group: its description is
the loader's `file:line: field: reason`, and materializing it fails its `contract_loads` check and
the run with that same message (the alert sensors then report it like any failed run).
"""

import dagster as dg

from dq_platform import names
from dq_platform.contract import ContractError


def build_placeholder(dataset: str, error: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(names.contract_placeholder(dataset))
    first = error.splitlines()[0] if error else "the contract does not load"

    @dg.asset(
        key=key,
        group_name=names.BROKEN_CONTRACTS_GROUP,
        description=f"BROKEN CONTRACT: dataset '{dataset}' is disabled until its contract loads.\n\n"
        + "\n".join(f"    {line}" for line in error.splitlines()),
        check_specs=[
            dg.AssetCheckSpec(
                names.CONTRACT_VALID_CHECK, asset=key, blocking=True, description="The dataset's contract loads."
            )
        ],
        metadata={"dq/contract_error": first},
        output_required=False,
    )
    def placeholder(context: dg.AssetExecutionContext):
        yield dg.AssetCheckResult(
            check_name=names.CONTRACT_VALID_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=first,
            metadata={"errors": len(error.splitlines())},
        )
        raise ContractError(error)

    return placeholder
