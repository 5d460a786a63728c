"""Where a dataset's rows come from: files in the landing zone, a pulled HTTP API or SQL table, or a
Kafka topic drained in micro-batches into the landing zone (`stream: {kafka: ...}`).

Pull sources name environment variables for their URLs and keys, never the values: the checks
here refuse anything that does not look like a variable's name.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dq_platform.contract.base import _Strict, check_cron

ENV_NAME_RE = r"^[A-Z_][A-Z0-9_]*$"


def _check_cron(v: str | None) -> str | None:
    return check_cron(v, "'{value}' is not a cron expression (5 fields, e.g. '*/10 * * * *')")


def _check_env_name(v: str | None) -> str | None:
    if v is not None and not re.fullmatch(ENV_NAME_RE, v):
        # the value is not repeated: it may be the secret itself (a URL with its password, a key)
        raise ValueError(
            "must name an environment variable (upper case, digits, '_'; e.g. DQ_ERP_DB_URL): "
            "the value itself (a URL, a key) belongs in the environment, not in the contract"
        )
    return v


class HttpPagination(_Strict):
    """Page-numbered pagination: pages are requested until a short or empty page, or max_pages."""

    page_param: str = "page"
    per_page_param: str = "per_page"
    per_page: int = Field(default=100, ge=1, le=10_000)
    first_page: int = Field(default=1, ge=0)
    max_pages: int = Field(default=100, ge=1)


class HttpSource(_Strict):
    """A JSON API pulled with GET (io/http_source.py): each response is a JSON list of records."""

    base_url: str | None = None  # the default endpoint, e.g. https://api.coingecko.com/api/v3
    base_url_env: str | None = None  # an environment variable's name; wins over base_url when set
    path: str = ""  # appended to the base URL, e.g. /coins/markets
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)  # query parameters (never secrets)
    headers: dict[str, str] = Field(default_factory=dict)  # plain headers (e.g. Accept)
    # header -> environment variable holding its value (API keys); the value is never logged
    headers_env: dict[str, str] = Field(default_factory=dict)
    records_key: str | None = None  # the list is under this key of a JSON object body (default: the body is the list)
    pagination: HttpPagination | None = None  # None: one request
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=5, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)
    # a Retry-After longer than this fails the run instead of blocking it (the next schedule tick retries)
    max_retry_after_seconds: float = Field(default=120, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"'{v}' is not an http(s):// URL")
        return v

    @field_validator("base_url_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        return _check_env_name(v)

    @field_validator("headers_env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v.values():
            _check_env_name(name)
        return v

    @model_validator(mode="after")
    def _has_endpoint(self) -> HttpSource:
        if self.base_url is None and self.base_url_env is None:
            raise ValueError("needs base_url or base_url_env (or both: the variable wins when set)")
        return self


class SqlSource(_Strict):
    """A table or query read through SQLAlchemy (io/sql_source.py), fully or by a watermark column."""

    url_env: str  # the variable holding the SQLAlchemy URL (it has a password: never in the contract)
    table: str | None = None  # "orders" or "schema.orders"
    query: str | None = None  # a SELECT; incremental mode filters and orders it by the watermark
    mode: Literal["full", "incremental"] = "full"
    watermark: str | None = None  # incremental: rows with watermark > the last extract's maximum
    chunk_rows: int = Field(default=50_000, ge=1)

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        return _check_env_name(v)

    @model_validator(mode="after")
    def _coherent(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("needs exactly one of 'table' or 'query'")
        if self.mode == "incremental" and not self.watermark:
            raise ValueError("mode 'incremental' needs a 'watermark' column")
        if self.mode == "full" and self.watermark:
            raise ValueError("a 'watermark' needs mode: incremental (mode 'full' reads every row each time)")
        return self


# librdkafka's security properties a stream may take from the environment (never from the contract)
KAFKA_SECURITY_PROPERTIES = (
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.token.endpoint.url",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
)
TOPIC_RE = r"^[A-Za-z0-9._-]{1,249}$"


class KafkaStream(_Strict):
    """A Kafka topic drained in bounded micro-batches (io/kafka.py): one landing file per batch."""

    topic: str
    bootstrap_servers: str | None = None  # host:port[,host:port]; DQ_KAFKA_BOOTSTRAP_SERVERS when unset
    bootstrap_servers_env: str | None = None  # an environment variable's name; wins over bootstrap_servers
    group_id: str | None = (
        None  # the consumer group whose committed offsets say what was drained (default dq-platform.<dataset>)
    )
    max_records: int = Field(default=10_000, ge=1, le=5_000_000)  # records per batch (one landing file)
    max_seconds: float = Field(default=5.0, gt=0, le=50)  # longest a drain reads (a sensor tick has 60 s)
    # librdkafka security property -> the environment variable holding its value (e.g. sasl.password:
    # DQ_KAFKA_PASSWORD); unset properties fall back to DQ_KAFKA_<PROPERTY> (settings.py)
    security_env: dict[str, str] = Field(default_factory=dict)

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if not re.fullmatch(TOPIC_RE, v) or v in (".", ".."):
            raise ValueError(f"'{v}' is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)")
        return v

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, v: str | None) -> str | None:
        if v is not None and not all(re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", s.strip()) for s in v.split(",")):
            raise ValueError("must be host:port, comma-separated (e.g. kafka:9092,kafka2:9092), without a scheme")
        return v

    @field_validator("bootstrap_servers_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        return _check_env_name(v)

    @field_validator("security_env")
    @classmethod
    def _security(cls, v: dict[str, str]) -> dict[str, str]:
        for prop, name in v.items():
            if prop not in KAFKA_SECURITY_PROPERTIES:
                raise ValueError(
                    f"'{prop}' is not a security property this platform passes to librdkafka; "
                    f"choose from {', '.join(KAFKA_SECURITY_PROPERTIES)}"
                )
            _check_env_name(name)
        return v


class Stream(_Strict):
    kafka: KafkaStream


class Source(_Strict):
    # file: files delivered into the landing zone; http / sql: pulled by the dataset's extract job
    # (extract.py), which delivers them into the landing zone under `pattern` like any producer.
    kind: Literal["file", "http", "sql"] = "file"
    http: HttpSource | None = None
    sql: SqlSource | None = None
    schedule: str | None = None  # cron of the extract schedule (pull sources)
    # a Kafka topic drained into the landing zone under `pattern` (defs/streams.py); files still work
    stream: Stream | None = None
    # The schedule calls an external system: it starts stopped (a fresh UI pages nobody offline) and is
    # turned on in the UI, unless the contract says `schedule_status: running`.
    schedule_status: Literal["stopped", "running"] = "stopped"
    format: Literal["csv", "jsonl", "parquet"] = "csv"
    pattern: str = Field(description="glob, relative to the landing zone, of this dataset's files")
    # A file is ready when "<file>.done" exists (".done"), or "_SUCCESS" in its folder ("_SUCCESS").
    # Without a marker, a file is ready once its size and mtime are unchanged across two sensor ticks.
    ready_marker: Literal[".done", "_SUCCESS"] | None = None
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    null_values: list[str] = Field(
        default_factory=lambda: ["", "NULL", "null", "None", "N/A", "n/a", "NA", "NaN", "nan", "-"]
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return _check_cron(v)

    @model_validator(mode="after")
    def _pull_options(self) -> Source:
        for kind in ("http", "sql"):
            if self.kind == kind and getattr(self, kind) is None:
                raise ValueError(f"kind '{kind}' needs a '{kind}:' section with its options")
            if self.kind != kind and getattr(self, kind) is not None:
                raise ValueError(f"a '{kind}:' section needs kind: {kind} (kind is '{self.kind}')")
        if self.stream is not None:
            if self.kind != "file":
                raise ValueError(
                    f"a 'stream:' lands files like a producer: it needs kind: file (kind is '{self.kind}')"
                )
            if self.format != "jsonl":
                raise ValueError("a 'stream:' lands one record per line: set format: jsonl")
            self._one_star(
                "the drain replaces it with the batch's topic, partitions and offsets, e.g. 'events/logs/*.jsonl'"
            )
        if self.kind == "file":
            if self.schedule_status != "stopped":
                raise ValueError("schedule_status applies to pull sources (kind http or sql)")
            if self.schedule is not None:
                raise ValueError("schedule applies to pull sources (kind http or sql): files arrive on their own")
            return self
        wanted = {"http": "jsonl", "sql": "parquet"}[self.kind]
        if self.format != wanted:
            raise ValueError(f"kind '{self.kind}' delivers {wanted} files: set format: {wanted}")
        self._one_star("the extract replaces it with its UTC timestamp, e.g. 'crypto/markets_*.jsonl'")
        return self

    def _one_star(self, why: str) -> None:
        if self.pattern.count("*") != 1 or re.search(r"[?\[]", self.pattern):
            raise ValueError(f"pattern '{self.pattern}' needs exactly one '*' (and no other wildcard): {why}")
