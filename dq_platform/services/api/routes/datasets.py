"""Datasets: contract summaries, latest status, health KPIs, checks, quarantine counts, anomalies, reviews."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from dq_platform.services import records
from dq_platform.services.api.deps import AnswerCache, answers, sources
from dq_platform.services.api.routes.errors import ERRORS
from dq_platform.services.sources import ANOMALIES, Sources

router = APIRouter(tags=["datasets"], responses=ERRORS)


@router.get("/datasets", summary="Every dataset with its contract summary and owners")
def list_datasets(src: Sources = Depends(sources)) -> list[dict]:
    return [records.dataset_summary(src, c) for _, c in sorted(src.contracts.items())]


@router.get("/datasets/{dataset}", summary="One dataset's contract summary")
def get_dataset(dataset: str, src: Sources = Depends(sources)) -> dict:
    return records.dataset_summary(src, records.contract_of(src, dataset))


@router.get("/status", summary="Latest status of every dataset: last run, rows per layer, failure rate, freshness")
def list_status(src: Sources = Depends(sources), cache: AnswerCache = Depends(answers)) -> list[dict]:
    return cache.get(("status",), lambda: records.all_statuses(src))


@router.get("/datasets/{dataset}/status", summary="Latest status of one dataset")
def get_status(dataset: str, src: Sources = Depends(sources), cache: AnswerCache = Depends(answers)) -> dict:
    records.contract_of(src, dataset)
    return cache.get(("status", dataset), lambda: records.dataset_status(src, dataset))


@router.get("/health", summary="Platform KPIs from run storage, as platform_health computes them")
def get_health(
    window_days: float = Query(30.0, gt=0, le=3660, description="the window, in days"),
    src: Sources = Depends(sources),
    cache: AnswerCache = Depends(answers),
) -> dict:
    return cache.get(("health", window_days), lambda: records.health(src, window_days))


@router.get("/datasets/{dataset}/checks", summary="Check results of the dataset's latest file run")
def get_checks(dataset: str, src: Sources = Depends(sources)) -> dict:
    status = records.dataset_status(src, dataset)
    run = status["last_file_run"]
    if run is None:
        return {"dataset": dataset, "run_id": None, "checks": []}
    return {"dataset": dataset, "run_id": run["run_id"], "checks": records.run_checks(src, run["run_id"])}


@router.get("/datasets/{dataset}/quarantine", summary="Quarantined rows per failed rule: counts only, never values")
def get_quarantine(dataset: str, src: Sources = Depends(sources)) -> dict:
    return records.quarantine_by_rule(src, dataset)


@router.get("/datasets/{dataset}/anomalies", summary="Anomalies found by the dataset's event rules, newest first")
def get_anomalies(
    dataset: str,
    page: int = Query(1, ge=1),
    page_size: int = Query(100, ge=1, le=records.MAX_PAGE_SIZE),
    src: Sources = Depends(sources),
) -> dict:
    records.contract_of(src, dataset)
    table = next((t.name for t in src.tables.values() if t.dataset == dataset and t.kind == ANOMALIES), None)
    if table is None:
        raise records.NotFound(f"dataset '{dataset}' declares no anomaly rules")
    return records.table_rows(src, table, page=page, page_size=page_size)


@router.get("/reviews", summary="Files waiting for a reviewer, with the command that decides")
def list_reviews(src: Sources = Depends(sources)) -> list[dict]:
    return records.files_waiting_for_review(src)
