"""Benchmark: the data API's main routes with 10,000 runs on record.

    python bench/api_benchmark.py                         # 10,000 runs, SQLite
    python bench/api_benchmark.py --runs 10000 --backend postgres
    python bench/api_benchmark.py --runs 2000 --full 100  # quicker

Seeds N runs into a throw-away instance through Dagster's storage API (bench/benchmark.py's
`seed_audit_runs`: run records for all, full event sets for the newest `--full`, since storing
events through Dagster costs ~0.3 s of CPU per run), writes a gold table of 3,650 rows to a
throw-away warehouse, then serves the real app (`create_app`) with uvicorn on loopback and times
each route over HTTP with the KPI cache off: wall seconds (first call, median of the rest) and
CPU seconds of this process (server and client share it; PostgreSQL's own CPU is not in it) per
call; then /status once more with the cache on (its first call computes, the rest are cached). Target: the default pages (datasets, runs,
one run, a table page) under 0.5 s; the KPI routes (status, health) under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import seed_audit_runs, throwaway_instance  # noqa: E402


def _gold_table(warehouse) -> None:
    """sales_transactions_by_day for ten years and four currencies (served, filterable by currency)."""
    import numpy as np
    import pandas as pd

    days = pd.date_range("2016-01-01", periods=3650 // 4 + 1, freq="D")[: 3650 // 4]
    frame = pd.DataFrame(
        {
            "period": np.repeat(days, 4),
            "currency": np.tile(["USD", "EUR", "GBP", "CAD"], len(days)),
            "transactions": np.arange(len(days) * 4) % 97 + 1,
            "total_amount": (np.arange(len(days) * 4) % 997) * 10.5,
            "customers": np.arange(len(days) * 4) % 41 + 1,
        }
    )
    warehouse.write("sales_transactions_by_day", frame, partition=None, run_id="bench")


def _serve(app):
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _time(session, url: str, repeat: int) -> tuple[float, float, float, int]:
    """(first wall s, median wall s of the rest, median CPU s, status) of GET url."""
    walls, cpus, status = [], [], None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        r = session.get(url, timeout=300)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        status = r.status_code
    return walls[0], statistics.median(walls[1:]), statistics.median(cpus[1:]), status


def api_bench(n: int, full: int, backend: str, repeat: int) -> dict:
    import requests

    from dq_platform.contract import load_contracts
    from dq_platform.io.warehouse import Warehouse
    from dq_platform.ops.audit import list_runs
    from dq_platform.services.api import create_app
    from dq_platform.services.sources import Sources

    with throwaway_instance("api", backend) as instance:
        t0 = time.perf_counter()
        seed_audit_runs(instance, n, min(full, n))
        seed_s = time.perf_counter() - t0
        warehouse = Warehouse(root=str(Path(instance.root_directory) / "warehouse"))
        _gold_table(warehouse)
        src = Sources(instance=instance, warehouse=warehouse, contracts={c.name: c for c in load_contracts()})
        src.check_keys  # noqa: B018 - built once at startup, as a served app does on its first KPI call
        newest = list_runs(instance, limit=1)[0].run_id
        # every call computes (cache off); the cached repeat is timed on a second app below
        server, thread, base = _serve(create_app(src, token="", cache_seconds=0))
        routes = {
            "GET /datasets": "/datasets",
            "GET /runs (newest 50)": "/runs",
            "GET /runs?dataset=customers&status=failure": "/runs?dataset=customers&status=failure",
            "GET /runs?page=10&page_size=50": "/runs?page=10&page_size=50",
            "GET /runs/{id}": f"/runs/{newest}",
            "GET /runs/{id}/checks": f"/runs/{newest}/checks",
            "GET /datasets/customers/status": "/datasets/customers/status",
            "GET /status (9 datasets)": "/status",
            "GET /health (30 days)": "/health",
            "GET /datasets/customers/quarantine": "/datasets/customers/quarantine",
            "GET /tables": "/tables",
            "GET /tables/{gold} (page of 100)": "/tables/sales_transactions_by_day",
            "GET /tables/{gold}?filter&from (page of 100)": "/tables/sales_transactions_by_day"
            "?filter=currency:USD&from=2020-01-01",
        }
        timings = {}
        with requests.Session() as session:
            for name, path in routes.items():
                timings[name] = _time(session, base + path, repeat)
                assert timings[name][3] == 200, (name, timings[name])
            server.should_exit = True
            thread.join(timeout=10)
            server, thread, base = _serve(create_app(src, token="", cache_seconds=300))
            for name, path in {"GET /status, cached (DQ_API_CACHE_SECONDS)": "/status"}.items():
                timings[name] = _time(session, base + path, repeat)
        server.should_exit = True
        thread.join(timeout=10)
        runs = instance.get_runs_count()
    return {"backend": backend, "runs": runs, "full": min(full, n), "seed_s": seed_s, "timings": timings}


def report(r: dict) -> str:
    out = [
        f"\n== data API on {r['backend']}: {r['runs']:,} runs on record, the newest {r['full']:,} with full "
        f"event sets (seeded in {r['seed_s']:.0f}s); uvicorn on loopback",
        f"{'route':<50}{'first s':>9}{'median s':>10}{'CPU s':>8}",
    ]
    for name, (first, median, cpu, _) in r["timings"].items():
        out.append(f"  {name:<48}{first:>9.3f}{median:>10.3f}{cpu:>8.3f}")
    pages = [r["timings"][k][1] for k in ("GET /datasets", "GET /runs (newest 50)", "GET /runs/{id}")]
    pages.append(r["timings"]["GET /tables/{gold} (page of 100)"][1])
    kpis = [r["timings"][k][1] for k in ("GET /status (9 datasets)", "GET /health (30 days)")]
    out.append(f"default pages < 0.5 s: {'met' if max(pages) < 0.5 else 'NOT met'} ({max(pages):.3f}s worst median)")
    out.append(f"KPI routes < 2 s: {'met' if max(kpis) < 2 else 'NOT met'} ({max(kpis):.3f}s worst median)")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--full", type=int, default=300, help="newest runs seeded with their full events")
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    os.environ.setdefault("DQ_MASKING_KEY", "bench-masking-key-0123456789abcdef")
    print(report(api_bench(args.runs, args.full, args.backend, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
