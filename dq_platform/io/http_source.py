"""Pull records from a JSON API: GET with retries, timeouts and page-numbered pagination.

The contract's `source.http` options say where and how (contract.HttpSource); this module turns
them into records and JSON-lines bytes, nothing more: the extract job (extract.py) delivers the
bytes into the landing zone, and the dataset's pipeline validates them like any other file.

Retries are urllib3's `Retry` on a requests Session: GET only, connection errors, read timeouts,
429 and 5xx, exponential backoff (`backoff_seconds`, doubling; urllib3 retries the first time at
once), and a `Retry-After` header on 429/503 is honoured to the second. A Retry-After above
`max_retry_after_seconds` is not waited out: the extract fails with the wait asked for, and the
next scheduled run tries again. Errors name the method, the URL without its query (no secrets),
the status and what to do; API keys come from environment variables (`headers_env`) and are never
written anywhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from dq_platform.contract import HttpSource

RETRY_STATUSES = (429, 500, 502, 503, 504)


class HttpSourceError(RuntimeError):
    """The API could not be read; the message names the URL (no query), the status and what to do."""


@dataclass
class Fetched:
    """What one pull returned: the records, and how it went (for run tags and the audit log)."""

    records: list[dict]
    url: str  # the endpoint, without query string or credentials
    pages: int = 0
    requests: int = 0  # HTTP requests made, retries included
    retried: list[str] = field(default_factory=list)  # why each retry happened: "429", "500", "timeout"
    truncated: bool = False  # stopped at max_pages while pages were still full


def display_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe for logs, errors and metadata."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def endpoint(options: HttpSource, env=None) -> str:
    """base URL (the environment variable wins over the contract's default) + path."""
    env = os.environ if env is None else env
    base = (env.get(options.base_url_env) if options.base_url_env else None) or options.base_url
    if not base:
        raise HttpSourceError(f"no API base URL: set {options.base_url_env} (e.g. https://api.example.com/v1)")
    if not base.startswith(("http://", "https://")):
        raise HttpSourceError(f"{options.base_url_env}: '{display_url(base)}' is not an http(s):// URL")
    return base.rstrip("/") + ("/" + options.path.lstrip("/") if options.path else "")


class RetryAfterTooLong(Exception):
    """The server asked for a longer wait than max_retry_after_seconds."""

    def __init__(self, seconds: float, status: int):
        super().__init__(f"Retry-After {seconds:g}s")
        self.seconds, self.status = seconds, status


class _Retry(Retry):
    """urllib3's Retry, refusing to sleep longer than `max_retry_after` on a Retry-After header.

    Past the limit it raises instead of sleeping, and fetch() explains it: a schedule tick is not
    blocked for an hour, and the next tick tries again.
    """

    max_retry_after: float = 120.0

    def new(self, **kw):
        new = super().new(**kw)
        new.max_retry_after = self.max_retry_after
        return new

    def sleep_for_retry(self, response) -> bool:
        wait = self.get_retry_after(response)
        if wait is not None and wait > self.max_retry_after:
            raise RetryAfterTooLong(wait, response.status)
        return super().sleep_for_retry(response)


def session(options: HttpSource) -> requests.Session:
    """A Session that retries GETs on connection errors, timeouts, 429 and 5xx (Retry-After honoured)."""
    retry = _Retry(
        total=options.retries,
        connect=options.retries,
        read=options.retries,
        status=options.retries,
        other=0,
        redirect=5,
        backoff_factor=options.backoff_seconds,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.max_retry_after = options.max_retry_after_seconds
    s = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def _headers(options: HttpSource, env) -> dict[str, str]:
    """Plain headers, plus each `headers_env` header whose variable is set (keys are often optional)."""
    headers = {"Accept": "application/json", **options.headers}
    for header, variable in options.headers_env.items():
        if env.get(variable):
            headers[header] = env[variable]
    return headers


def _params(params: dict) -> dict:
    """JSON-style booleans in the query (sparkline=false), as JSON APIs expect."""
    return {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}


def _retry_reasons(response: requests.Response | None) -> list[str]:
    retries = getattr(getattr(response, "raw", None), "retries", None)
    out = []
    for h in getattr(retries, "history", ()) or ():
        if h.status:
            out.append(str(h.status))
        elif h.error is not None:
            out.append("timeout" if "timeout" in type(h.error).__name__.lower() else "connection error")
    return out


def _get(
    s: requests.Session, url: str, params: dict, headers: dict, options: HttpSource, where: str, fetched: Fetched, env
) -> requests.Response:
    shown = display_url(url)
    try:
        response = s.get(url, params=params, headers=headers, timeout=options.timeout_seconds)
    except RetryAfterTooLong as e:
        fetched.requests += 1
        raise HttpSourceError(
            f"GET {shown}{where}: HTTP {e.status}, rate limited: the server asks to wait {e.seconds:g}s, more than "
            f"max_retry_after_seconds ({options.max_retry_after_seconds:g}s); the next scheduled extract tries again "
            f"(or raise the limit in the contract)"
        ) from None
    except requests.exceptions.RequestException as e:  # connection errors and timeouts, after the retries
        text = str(e).lower()
        if isinstance(e, requests.exceptions.Timeout) or "timed out" in text or "timeout" in text:
            raise HttpSourceError(
                f"GET {shown}{where}: no answer within timeout_seconds={options.timeout_seconds:g} "
                f"after {options.retries} retries; raise timeout_seconds or check the API"
            ) from None
        raise HttpSourceError(
            f"GET {shown}{where}: could not connect after {options.retries} retries; check the URL "
            f"({options.base_url_env or 'base_url'}) and that the API is up"
        ) from None
    reasons = _retry_reasons(response)
    fetched.requests += 1 + len(reasons)
    fetched.retried += reasons
    if response.status_code >= 400:
        raise HttpSourceError(
            f"GET {shown}{where}: HTTP {response.status_code} {response.reason or ''}".rstrip()
            + (f" after {len(reasons)} retries" if reasons else "")
            + f"; {_what_to_do(response.status_code, options, env)}"
        )
    return response


def _what_to_do(status: int, options: HttpSource, env) -> str:
    if status in (401, 403):
        if not options.headers_env:
            return "the API wants credentials: give the key header in headers_env"
        unset = [v for v in options.headers_env.values() if not env.get(v)]
        return (
            f"set {', '.join(unset)} (the API key)"
            if unset
            else f"check the API key in {', '.join(options.headers_env.values())} and its permissions"
        )
    if status == 404:
        return "check the base URL and path"
    if status == 429:
        return "rate limited: run the schedule less often, or raise retries/backoff_seconds"
    if status >= 500:
        return "the API is failing: the next scheduled extract tries again"
    return "check the request parameters in the contract"


def _records(response: requests.Response, options: HttpSource, shown: str) -> list[dict]:
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        raise HttpSourceError(
            f"GET {shown}: the body is not JSON ({kind}, {len(response.content)} bytes); "
            f"check that the URL points at a JSON API"
        ) from None
    if options.records_key is not None:
        if not isinstance(body, dict) or options.records_key not in body:
            raise HttpSourceError(
                f"GET {shown}: the body is not a JSON object with a '{options.records_key}' key "
                f"(records_key); got {type(body).__name__}"
            )
        body = body[options.records_key]
    if not isinstance(body, list):
        raise HttpSourceError(
            f"GET {shown}: the body is a JSON {type(body).__name__}, not a list of records"
            + ("" if options.records_key else "; if the records sit under a key of an object, set records_key")
        )
    bad = next((i for i, r in enumerate(body) if not isinstance(r, dict)), None)
    if bad is not None:
        raise HttpSourceError(
            f"GET {shown}: item {bad} of the list is a JSON {type(body[bad]).__name__}, "
            f"not an object (one record per object)"
        )
    return body


def fetch(options: HttpSource, env=None) -> Fetched:
    """Every record of the endpoint: one request, or page after page until a short or empty page."""
    env = os.environ if env is None else env
    url = endpoint(options, env)
    headers = _headers(options, env)
    fetched = Fetched(records=[], url=display_url(url))
    page_opts = options.pagination
    with session(options) as s:
        if page_opts is None:
            response = _get(s, url, _params(options.params), headers, options, "", fetched, env)
            fetched.records = _records(response, options, fetched.url)
            fetched.pages = 1
            return fetched
        page = page_opts.first_page
        while True:
            params = {
                **_params(options.params),
                page_opts.page_param: page,
                page_opts.per_page_param: page_opts.per_page,
            }
            where = f" (page {page})"
            records = _records(
                _get(s, url, params, headers, options, where, fetched, env), options, fetched.url + where
            )
            fetched.pages += 1
            fetched.records += records
            if len(records) < page_opts.per_page:
                return fetched
            if fetched.pages >= page_opts.max_pages:
                fetched.truncated = True
                return fetched
            page += 1


def to_jsonl(records: list[dict]) -> bytes:
    """One JSON object per line, keys as received; nested values (objects, lists) as JSON text.

    Nested values become text so every file of the dataset has the same flat columns, whatever
    the API nests; the raw layer keeps that text as received.
    """

    def flat(v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":")) if isinstance(v, (dict, list)) else v

    lines = [json.dumps({k: flat(v) for k, v in r.items()}, ensure_ascii=False, separators=(",", ":")) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
