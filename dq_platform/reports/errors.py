"""What a failed step says to people: the message under Dagster's wrappers.

Dagster wraps a step's exception in DagsterExecutionStepExecutionError; the user-facing cause
(which file, which line, why) is underneath. The audit log, the CLI, the review and extract
paths all show this one line.
"""


def root_cause(err) -> str:
    """The user-facing message under Dagster's wrappers (e.g. which file, which line, why)."""
    if err is None:
        return "failed"
    while err.cause is not None and "DagsterExecutionStepExecutionError" in (err.cls_name or ""):
        err = err.cause
    return err.message.strip().splitlines()[0] if err.message else err.cls_name
