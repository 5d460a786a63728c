"""Tables: the masked, gold and semantic tables (never raw, cleaned or quarantine), paged and filtered."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from dq_platform.services import records
from dq_platform.services.api.deps import sources
from dq_platform.services.api.routes.errors import ERRORS
from dq_platform.services.sources import Sources

router = APIRouter(tags=["tables"], responses=ERRORS)


@router.get("/tables", summary="The tables served, with their kind, dataset and filterable columns")
def list_tables(src: Sources = Depends(sources)) -> list[dict]:
    return records.served_tables(src)


@router.get("/tables/{table}", summary="A page of a table's rows, optionally some columns, filtered")
def get_table(
    table: str,
    columns: str | None = Query(None, description="comma-separated columns (default: all)"),
    filter: list[str] = Query([], description="column:value or column:v1,v2 on a filterable column; repeatable"),
    date_from: str | None = Query(None, alias="from", description="ISO date: rows at or after it (time column)"),
    date_to: str | None = Query(None, alias="to", description="ISO date: rows at or before it (time column)"),
    page: int = Query(1, ge=1),
    page_size: int = Query(100, ge=1, le=records.MAX_PAGE_SIZE),
    src: Sources = Depends(sources),
) -> dict:
    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    return records.table_rows(
        src,
        table,
        columns=chosen,
        filters=filter,
        date_from=date_from,
        date_to=date_to,
        page=page,
        page_size=page_size,
    )
