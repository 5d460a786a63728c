"""The error answers every route may give, declared once for the OpenAPI spec."""

from pydantic import BaseModel


class Problem(BaseModel):
    detail: str


ERRORS = {
    400: {"model": Problem, "description": "a bad filter, page or argument"},
    401: {"model": Problem, "description": "missing or wrong bearer token (when DQ_API_TOKEN is set)"},
    404: {"model": Problem, "description": "no such dataset, table or run (or a table that is never served)"},
}
