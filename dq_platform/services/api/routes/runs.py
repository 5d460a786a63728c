"""Runs: the audit log, paged and filtered as `dq-platform audit` filters it; one run; its checks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from dq_platform.services import records
from dq_platform.services.api.deps import sources
from dq_platform.services.api.routes.errors import ERRORS
from dq_platform.services.sources import Sources

router = APIRouter(tags=["runs"], responses=ERRORS)


@router.get("/runs", summary="Runs, newest first: file, trigger, status, rows per layer, checks")
def list_runs(
    dataset: str | None = Query(None, description="only runs of this dataset"),
    status: list[str] | None = Query(None, description="success, failure, canceled, started, queued...; repeatable"),
    since: str | None = Query(None, description="7d, 12h, 30m or an ISO date (UTC)"),
    include_monitoring: bool = Query(False, description="also scheduled runs that write no table"),
    page: int = Query(1, ge=1),
    page_size: int = Query(50, ge=1, le=records.MAX_PAGE_SIZE),
    src: Sources = Depends(sources),
) -> dict:
    return records.runs(
        src,
        dataset=dataset,
        status=status,
        since=since,
        page=page,
        page_size=page_size,
        include_monitoring=include_monitoring,
    )


@router.get("/runs/{run_id}", summary="One run: tags, rows per layer, materializations, checks, failures")
def get_run(run_id: str, src: Sources = Depends(sources)) -> dict:
    return records.run(src, run_id)


@router.get("/runs/{run_id}/checks", summary="One run's check results")
def get_run_checks(run_id: str, src: Sources = Depends(sources)) -> list[dict]:
    return records.run_checks(src, run_id)
