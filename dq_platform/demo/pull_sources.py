"""The demo's pull sources: a recorded API on loopback and an ERP database in SQLite.

Pull-source contracts are demoed through their source, never with generated files: the demo
runs each dataset's real extract job against a local stand-in and ingests what it delivered.

- http: the replay server (replay_server.py) serves the recorded /coins/markets snapshots on
  127.0.0.1, first a 429 (Retry-After: 1) and a 500, so the extract's retries show; the base URL
  variable points at it. Two snapshots a day apart give the gold trend two days.
- sql: a SQLite ERP database (`.dq_demo/erp.sqlite` in the project folder, recreated per demo)
  with messy rows (bad emails, negative quantities, duplicate ids, nulls); a full extract, then
  a few inserts and updates, then an incremental extract that takes exactly those.

A contract the built-in data does not cover gets rows from `sample_data.generate` (an API page
list, or a table) so a new YAML contract is demoed without code. Everything is seeded: a second
demo run delivers the same bytes, so the same partitions are re-run (replaced), not duplicated.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dq_platform import names
from dq_platform.contract import Contract
from dq_platform.defs.extract import ExtractOutcome, run_extract
from dq_platform.defs.partitions import registered_content
from dq_platform.io import landing

ERP_URL_ENV = "DQ_ERP_DB_URL"
T0 = dt.datetime(2026, 11, 2, 8, 0)  # the ERP's first rows (fixed: same bytes every demo run)
T1 = dt.datetime(2026, 11, 25, 9, 0)  # the changes between the two extracts


# -- the ERP database ---------- -------------------------------------------------------------


def _ts(minutes: np.ndarray, start: dt.datetime = T0) -> pd.Series:
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(minutes, unit="m"))


FIRST = np.array(["Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Chloe", "Lucas", "Emma", "Oscar"])
LAST = np.array(["Smith", "Garcia", "Müller", "O'Brien", "Dubois", "Jansen", "Rossi", "Lee", "Novak", "Khan"])
PRODUCTS = [
    ("Laptop 14", "hardware", 1099.0),
    ("Dock USB-C", "accessories", 189.0),
    ("Monitor 27", "hardware", 329.0),
    ("Office suite", "software", 99.0),
    ("Antivirus", "software", 39.9),
    ("Keyboard", "accessories", 59.0),
    ("Mouse", "accessories", 24.5),
    ("Setup service", "services", 150.0),
    ("Support plan", "services", 480.0),
    ("Tablet 11", "hardware", 599.0),
    ("Headset", "accessories", 79.0),
    ("Backup cloud", "software", 60.0),
    ("Server 1U", "hardware", 2890.0),
    ("Training day", "services", 900.0),
]


def erp_tables(rng: np.random.Generator | None = None) -> dict[str, pd.DataFrame]:
    """The ERP's first state: customers, products, orders, each with a few messy rows."""
    rng = rng or np.random.default_rng(4)
    n = 40
    ids = np.arange(1, n + 1)
    first, last = FIRST[ids % 10], LAST[(ids * 7) % 10]
    created = _ts(np.sort(rng.integers(0, 9 * 24 * 60, n)))
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "full_name": [f"{f} {s}" for f, s in zip(first, last)],
            "email": [
                f"{f.lower()}.{s.lower().replace(chr(39), '')}{i}@example.com".replace("ü", "ue")
                for f, s, i in zip(first, last, ids)
            ],
            "phone": [f"({200 + i % 700}) 555-{1000 + i:04d}" for i in ids],
            "country": np.array(["US", "CA", "GB", "DE", "FR", "NL", "ES"])[ids % 7],
            "segment": np.array(["consumer", "small_business", "enterprise"])[ids % 3],
            "created_at": created,
            "updated_at": created + pd.to_timedelta(rng.integers(0, 5 * 24 * 60, n), unit="m"),
        }
    )
    customers.loc[6, "email"] = "kim.lee@"  # bad email
    customers.loc[12, "email"] = "no email on file"  # bad email
    customers.loc[20, "full_name"] = None  # missing name
    customers.loc[32, "phone"] = "12345"  # not a phone number
    customers.loc[35, "country"] = "Atlantis"  # not an allowed country
    customers = pd.concat([customers, customers.iloc[[29]]], ignore_index=True)  # duplicate customer 30

    products = pd.DataFrame(PRODUCTS, columns=["name", "category", "unit_price"])
    products.insert(0, "product_id", np.arange(1, len(products) + 1))
    products["updated_at"] = _ts(np.arange(len(products)) * 37)
    products.loc[4, "unit_price"] = -3.5  # negative price
    products.loc[8, "category"] = None  # missing category
    products = pd.concat([products, products.iloc[[10]]], ignore_index=True)  # duplicate product 11

    m = 150
    order_minutes = np.sort(rng.integers(0, 18 * 24 * 60, m))
    product = rng.integers(1, len(PRODUCTS) + 1, m)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, m + 1),
            "customer_id": rng.integers(1, n + 1, m),
            "product_id": product,
            "quantity": rng.integers(1, 6, m),
            "unit_price": np.array([p[2] for p in PRODUCTS])[product - 1],
            "status": rng.choice(
                ["pending", "paid", "shipped", "delivered", "cancelled"], m, p=[0.1, 0.2, 0.3, 0.35, 0.05]
            ),
            "order_ts": _ts(order_minutes),
            "updated_at": _ts(order_minutes + rng.integers(0, 600, m)),
        }
    )
    orders.loc[[11, 57, 98], "quantity"] = [-1, -2, 0]  # negative / zero quantities
    orders["customer_id"] = orders["customer_id"].astype("Int64")
    orders.loc[40, "customer_id"] = None  # order without a customer
    orders.loc[73, "status"] = "lost"  # unknown status
    orders.loc[120, "updated_at"] = orders.loc[120, "order_ts"] - pd.Timedelta(hours=2)  # changed before placed
    orders = pd.concat([orders, orders.iloc[[30, 31]]], ignore_index=True)  # duplicate orders 31, 32
    return {"customers": customers, "products": products, "orders": orders}


def erp_changes(tables: dict[str, pd.DataFrame]) -> dict[str, tuple[pd.DataFrame, dict[int, dict]]]:
    """Between the two extracts: per table, (new rows, {id: changed values}); updated_at after T1."""
    customers = tables["customers"].iloc[:2].copy()
    customers["customer_id"] = [41, 42]
    customers["full_name"] = ["Iris Walker", "Omar Haddad"]
    customers["email"] = ["iris.walker41@example.com", "omar.haddad42@example.com"]
    customers["created_at"] = customers["updated_at"] = _ts(np.array([5, 9]), T1)
    orders = tables["orders"].iloc[:12].copy()
    orders["order_id"] = np.arange(151, 163)
    orders["order_ts"] = _ts(np.arange(12) * 40, T1)
    orders["updated_at"] = orders["order_ts"] + pd.Timedelta(minutes=3)
    orders["status"] = "pending"
    orders.loc[orders.index[5], "quantity"] = -4  # a bad new row (the copy of row 11 brings its -1 along)
    later = pd.Timestamp(T1) + pd.Timedelta(hours=9)
    return {
        "customers": (customers, {5: {"email": "noah.new5@example.com", "updated_at": later}}),
        "products": (tables["products"].iloc[:0], {3: {"unit_price": 309.0, "updated_at": later}}),
        "orders": (
            orders,
            {
                10: {"status": "shipped", "updated_at": later},
                20: {"status": "delivered", "updated_at": later},
                33: {"status": "returned", "updated_at": later},
            },
        ),
    }


_SQL_TYPES = {"i": sa.Integer, "u": sa.Integer, "f": sa.Float, "M": sa.DateTime, "b": sa.Boolean}


def _rows(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def write_table(engine: sa.Engine, name: str, frame: pd.DataFrame) -> sa.Table:
    """Create `name` with SQL types from the frame's dtypes (no primary key: the ERP's dirt stays) and fill it."""
    table = sa.Table(
        name, sa.MetaData(), *(sa.Column(c, _SQL_TYPES.get(frame[c].dtype.kind, sa.String)()) for c in frame.columns)
    )
    table.drop(engine, checkfirst=True)
    table.create(engine)
    with engine.begin() as conn:
        if len(frame):
            conn.execute(table.insert(), _rows(frame))
    return table


def apply_changes(engine: sa.Engine, name: str, key: str, new: pd.DataFrame, updates: dict[int, dict]) -> None:
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        if len(new):
            conn.execute(table.insert(), _rows(new))
        for k, values in updates.items():
            conn.execute(table.update().where(table.c[key] == k).values(**values))


# -- the demo driver ---------------------------------------------------------------------------


class DemoPullSources:
    """Per pull-source contract: deliver its files through its extract job; returns the URIs to ingest."""

    def __init__(self, instance, landing_uri: str, project_dir: Path, out=sys.stdout):
        self.instance, self.landing_uri, self.out = instance, landing_uri, out
        self.folder = project_dir / ".dq_demo"
        self._erp: dict[str, pd.DataFrame] | None = None
        self._env: dict[str, str | None] = {}

    def __enter__(self) -> DemoPullSources:
        return self

    def __exit__(self, *exc) -> None:
        for name, value in self._env.items():  # the demo's stand-ins do not outlive it
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _setenv(self, name: str, value: str) -> None:
        self._env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def deliver(self, contract: Contract) -> list[str]:
        kind = contract.source.kind
        uris = self._http(contract) if kind == "http" else self._sql(contract)
        return [source_uri for source_uri in uris if source_uri]

    def _extract(self, contract: Contract, **kw) -> ExtractOutcome:
        outcome = run_extract(self.instance, contract, self.landing_uri, tags={names.TRIGGER_TAG: "demo"}, **kw)
        t = outcome.tags
        if outcome.success:
            window = (
                f", watermark {t.get('dq/watermark/from', 'start')} -> {t.get('dq/watermark/to')}"
                if names.WATERMARK_COLUMN_TAG in t
                else ""
            )
            print(
                f"  {contract.name:<22} extract {outcome.run_id[:8]}: {outcome.rows} rows{window}"
                + ("" if outcome.uri else " (nothing new: no file)"),
                file=self.out,
                flush=True,
            )
        else:
            print(f"  {contract.name:<22} extract {outcome.run_id[:8]} FAILED: {outcome.error}", file=self.out)
        return outcome

    # http: the replay server stands in for the API
    def _http(self, contract: Contract) -> list[str | None]:
        from dq_platform.demo.replay_server import ReplayServer, Reply, recorded_markets

        options = contract.source.http
        if not options.base_url_env:
            print(f"  {contract.name:<22} skipped: no base_url_env to point at the demo's server", file=self.out)
            return []
        # the server answers where the contract's base URL + path would: point the variable at it
        base_path = urlsplit(options.base_url or "").path.rstrip("/")
        route = base_path + ("/" + options.path.lstrip("/") if options.path else "") or "/"
        if route.endswith("/coins/markets"):
            snapshots = [recorded_markets(1), recorded_markets(2)]
        else:
            snapshots = [self._generated_pages(contract, seed) for seed in (1, 2)]
        script = [
            Reply(429, {"status": {"error_code": 429, "error_message": "rate limited"}}, {"Retry-After": "1"}),
            Reply(500, {"error": "internal error"}),
        ]
        uris = []
        with ReplayServer(
            {route: snapshots[0]},
            script=script,
            records_key=options.records_key,
            page_param=options.pagination.page_param if options.pagination else "page",
        ) as server:
            self._setenv(options.base_url_env, server.url + base_path)
            first = self._extract(contract)
            print(
                f"  {'':<22} the API answered {', '.join(str(r.status) for r in server.requests)}"
                + (" (429 and 500 retried)" if first.success else ""),
                file=self.out,
            )
            uris.append(first.uri)
            server.routes[route] = snapshots[1]  # a day later
            uris.append(self._extract(contract).uri)
        return uris

    @staticmethod
    def _generated_pages(contract: Contract, seed: int) -> list[list[dict]]:
        from dq_platform.demo.sample_data import generate

        frame = generate(contract, rows=60, seed=seed).frame
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        size = contract.source.http.pagination.per_page if contract.source.http.pagination else len(records)
        return [records[i : i + size] for i in range(0, len(records), size)] or [[]]

    # sql: a SQLite database stands in for the ERP
    def _sql(self, contract: Contract) -> list[str | None]:
        options = contract.source.sql
        if options.table is None or "." in options.table:
            print(f"  {contract.name:<22} skipped: the demo database has tables without schema only", file=self.out)
            return []
        engine = self._database(options.url_env)
        try:
            table = options.table
            if self._erp is not None and table in self._erp:
                first = self._erp[table]
                new, updates = erp_changes(self._erp)[table]
                key = first.columns[0]
            else:
                first, new, updates, key = self._generated_table(contract)
            write_table(engine, table, first)
            uris = [self._extract(contract, full_refresh=True).uri]
            apply_changes(engine, table, key, new, updates)
            if options.mode == "incremental":
                uris.append(self._extract(contract).uri)
            return uris
        finally:
            engine.dispose()

    def _database(self, url_env: str) -> sa.Engine:
        if url_env not in self._env:  # first use in this demo: a fresh database
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / ("erp.sqlite" if url_env == ERP_URL_ENV else f"{url_env.lower()}.sqlite")
            path.unlink(missing_ok=True)
            self._setenv(url_env, f"sqlite:///{path}")
            if url_env == ERP_URL_ENV:
                self._erp = erp_tables()
        return sa.create_engine(os.environ[url_env])

    def _generated_table(self, contract: Contract):
        """Rows for a table the ERP seed does not know: the contract's own messy sample data."""
        from dq_platform.demo.sample_data import generate

        frame = generate(contract, rows=60, seed=7).frame.astype(object)
        wm = contract.source.sql.watermark
        if wm:
            frame[wm] = _ts(np.arange(len(frame)) * 10).to_numpy()
        new = generate(contract, rows=5, seed=8, id_offset=1000).frame.astype(object)
        if wm:
            new[wm] = _ts(np.arange(len(new)), T1).to_numpy()
        return frame, new, {}, frame.columns[0]


def partition_source(instance, contract: Contract, uri: str) -> landing.SourceFile:
    """The delivered file as a source; content already registered keeps its partition (no duplicate)."""
    source = landing.describe(contract.name, uri)
    known = registered_content(instance, contract).get(source.content_id)
    if known and known != source.partition_key:
        name, _ = landing.split_partition_key(known)
        source = landing.SourceFile(
            dataset=source.dataset, name=name, sha256=source.sha256, size=source.size, uri=source.uri
        )
    return source


def demo_http_servers(contracts: list[Contract], stack) -> dict[str, str]:
    """`dq-platform ui --demo-key`: a replay server for every http contract whose base URL variable is
    unset, entered on `stack` (closed with it); returns {variable: URL} for the UI's environment.

    So the crypto extract launched from the UI answers offline with the recorded snapshot, instead of
    failing (and paging) against the real API."""
    from dq_platform.demo.replay_server import ReplayServer, recorded_markets

    env = {}
    for contract in contracts:
        options = contract.source.http
        if contract.source.kind != "http" or not options.base_url_env or os.environ.get(options.base_url_env):
            continue
        base_path = urlsplit(options.base_url or "").path.rstrip("/")
        route = base_path + ("/" + options.path.lstrip("/") if options.path else "") or "/"
        pages = (
            recorded_markets(1) if route.endswith("/coins/markets") else DemoPullSources._generated_pages(contract, 1)
        )
        server = stack.enter_context(
            ReplayServer(
                {route: pages},
                records_key=options.records_key,
                page_param=options.pagination.page_param if options.pagination else "page",
            )
        )
        env[options.base_url_env] = server.url + base_path
    return env
