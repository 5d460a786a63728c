"""Benchmark: what a Prometheus scrape of `dq-platform metrics serve` costs with 10,000 runs on record.

    python bench/metrics_benchmark.py                          # 10,000 runs, SQLite and PostgreSQL
    python bench/metrics_benchmark.py --runs 2000 --backend sqlite

Seeds N finished pipeline runs into a throw-away instance through Dagster's storage API (no
pipeline executes): each run gets its run record with start and end times and the events a real
file's run stores and the exporter reads (run start, step successes, raw/cleaned/quarantine/masked
materializations with row counts and per-rule quarantine counts, six check evaluations, the final
run status; one in ten fails at its gate, one in twenty in its raw step). Then, over HTTP against
the real server (`services.metrics.exporter.serve` on a loopback port):

- catch-up: the first full read of the event log on record (done once, when the exporter starts);
- a scrape with nothing new (the steady state of a 30 s scrape interval on a quiet platform);
- a scrape after 1 and after 10 more runs finished (incremental: one indexed query per new run).

PostgreSQL: a throw-away database on 127.0.0.1:5432 (DQ_BENCH_PG_SERVER), dropped afterwards.
Target (issue #22): a scrape well under a second with 10,000 runs on record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from benchmark import throwaway_instance  # noqa: E402  (the audit benchmark's throw-away PostgreSQL database)

BATCHABLE = {"ASSET_MATERIALIZATION", "ASSET_OBSERVATION"}  # store_event_batch takes these on every storage
CHECKS = (
    "failure_rate_within_threshold",
    "cleaned_matches_pandera_schema",
    "cleaned_passes_gx_suite",
    "raw_rows_reconcile_with_cleaned_and_quarantine",
    "masked_source_passed_gates",
    "masked_has_no_pii",
)


def seed_runs(instance, n: int, start: float, dataset: str = "customers", full: int | None = None) -> None:
    """N finished runs, oldest first; the newest `full` (default all) with every event the exporter reads,
    the older ones with their run start and final status only (seeding costs ~0.3 s a full run here)."""
    import dagster as dg
    from dagster import DagsterEvent, DagsterEventType
    from dagster._core.events import StepMaterializationData, StepSuccessData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.dagster_run import DagsterRun

    job = f"{dataset}_pipeline"
    for i in range(n):
        outcome = "broken" if i % 20 == 19 else ("held" if i % 10 == 9 else "ok")
        partition = f"{dataset}_{i:05d}.csv@{uuid.uuid4().hex[:16]}"
        run_id = str(uuid.uuid4())
        tags = {"dq/dataset": dataset, "dagster/partition": partition, "dq/trigger": "sensor"}
        instance.add_run(DagsterRun(job_name=job, run_id=run_id, tags=tags, status=dg.DagsterRunStatus.NOT_STARTED))
        ts = start + i * 60.0
        entries = []

        def event(kind, step=None, data=None, at=0.0, _entries=entries, _ts=ts, _run=run_id):
            e = DagsterEvent(event_type_value=kind.value, job_name=job, step_key=step, event_specific_data=data)
            _entries.append(
                EventLogEntry(None, "debug", "", _run, _ts + at, step_key=step, job_name=job, dagster_event=e)
            )
            return e

        def materialize(table, _partition=partition, **meta):
            mat = dg.AssetMaterialization(asset_key=table, partition=_partition, metadata=meta)
            event(DagsterEventType.ASSET_MATERIALIZATION, table, StepMaterializationData(mat), at=1.0)

        started = event(DagsterEventType.RUN_START)
        light = full is not None and i < n - full
        if outcome != "broken" and not light:
            materialize(f"raw_{dataset}", rows_in=1000, delta_version=i)
            event(DagsterEventType.STEP_SUCCESS, f"raw_{dataset}", StepSuccessData(duration_ms=400.0), at=1.0)
            bad = 300 if outcome == "held" else 30
            materialize(
                f"cleaned_{dataset}",
                rows_in=1000,
                rows_cleaned=1000 - bad,
                rows_quarantined=bad,
                failure_rate=bad / 1000,
            )
            materialize(f"quarantine_{dataset}", rows_quarantined=bad, **{"rule/email:format": bad})
            for check in CHECKS[:4]:
                passed = not (outcome == "held" and check == CHECKS[0])
                ev = dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey(f"cleaned_{dataset}"),
                    check_name=check,
                    passed=passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                )
                event(DagsterEventType.ASSET_CHECK_EVALUATION, f"clean_{dataset}", ev, at=1.5)
        if outcome == "ok" and not light:
            event(DagsterEventType.STEP_SUCCESS, f"clean_{dataset}", StepSuccessData(duration_ms=1500.0), at=2.0)
            materialize(f"masked_{dataset}", rows_masked=970, delta_version=i)
            for check in CHECKS[4:]:
                ev = dg.AssetCheckEvaluation(asset_key=dg.AssetKey(f"masked_{dataset}"), check_name=check, passed=True)
                event(DagsterEventType.ASSET_CHECK_EVALUATION, f"masked_{dataset}", ev, at=2.5)
            event(DagsterEventType.STEP_SUCCESS, f"masked_{dataset}", StepSuccessData(duration_ms=300.0), at=2.5)
        ended = event(DagsterEventType.RUN_SUCCESS if outcome == "ok" else DagsterEventType.RUN_FAILURE, at=3.0)
        storage = instance.event_log_storage
        storage.store_event_batch([e for e in entries if e.dagster_event_type.value in BATCHABLE])
        for e in entries:
            if e.dagster_event_type.value not in BATCHABLE:
                storage.store_event(e)
        for e, at in ((started, 0.0), (ended, 3.0)):
            instance.run_storage.handle_run_event(run_id, e, dt.datetime.fromtimestamp(ts + at, dt.UTC))


class _FastSeeding:
    """While seeding only: SQLite writes without waiting for the disk (reads, which are timed, are unaffected)."""

    def __enter__(self):
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def pragmas(conn, _record):
            if type(conn).__module__.startswith("sqlite3"):
                cur = conn.cursor()
                cur.execute("PRAGMA synchronous=OFF")
                cur.close()

        self._listener = pragmas
        event.listen(Engine, "connect", pragmas)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "connect", self._listener)


def _scrape(url: str) -> tuple[float, str]:
    import requests

    t0 = time.perf_counter()
    text = requests.get(f"{url}/metrics", timeout=600).text
    return time.perf_counter() - t0, text


def bench(n: int, backend: str, full: int) -> dict:

    from dq_platform.contract import load_contracts
    from dq_platform.services.metrics.exporter import serve
    from dq_platform_tests.prometheus import free_port

    with throwaway_instance("metrics", backend) as instance:
        t0 = time.perf_counter()
        with _FastSeeding():
            seed_runs(instance, n, start=time.time() - n * 60.0 - 3600, full=min(full, n))
        seed_s = time.perf_counter() - t0
        server, collector = serve(instance, load_contracts(), port=free_port())
        url = f"http://127.0.0.1:{server.server_port}"
        t0, c0 = time.perf_counter(), time.process_time()
        collector.ready.wait()
        catch_up, catch_up_cpu = time.perf_counter() - t0, time.process_time() - c0
        first, text = _scrape(url)
        assert f"dq_exporter_runs_read_total {float(n)}" in text, "not every run was read"
        quiet = [_scrape(url)[0] for _ in range(20)]
        after = {}
        for k in (1, 10):
            seed_runs(instance, k, start=time.time(), dataset="customers")
            after[k] = _scrape(url)[0]
        _, text = _scrape(url)
        assert f"dq_exporter_runs_read_total {float(n + 11)}" in text
        server.shutdown()
    return {
        "backend": backend,
        "runs": n,
        "full_runs": min(full, n),
        "seed_s": seed_s,
        "catch_up_s": catch_up,
        "catch_up_cpu_s": catch_up_cpu,
        "first_scrape_s": first,
        "quiet_scrape_median_s": statistics.median(quiet),
        "quiet_scrape_max_s": max(quiet),
        "scrape_after_1_run_s": after[1],
        "scrape_after_10_runs_s": after[10],
        "bytes": len(text),
    }


def report(r: dict) -> str:
    return "\n".join(
        [
            f"\n== metrics exporter on {r['backend']}: {r['runs']:,} runs on record, the newest {r['full_runs']:,} "
            f"with full event sets (seeded in {r['seed_s']:.0f}s)",
            f"  catch-up (first full read, at start)   {r['catch_up_s']:8.2f} s  ({r['catch_up_cpu_s']:.2f} s CPU in this process)",
            f"  first scrape after catch-up           {r['first_scrape_s']:8.3f} s",
            f"  scrape, nothing new (median of 20)     {r['quiet_scrape_median_s']:8.3f} s  (max {r['quiet_scrape_max_s']:.3f} s)",
            f"  scrape after 1 more finished run       {r['scrape_after_1_run_s']:8.3f} s",
            f"  scrape after 10 more finished runs     {r['scrape_after_10_runs_s']:8.3f} s",
            f"  /metrics size                          {r['bytes']:8,d} bytes",
            f"  target: a scrape well under 1 s: {'met' if max(r['quiet_scrape_max_s'], r['scrape_after_10_runs_s']) < 1 else 'NOT met'}",
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--full-runs", type=int, default=1000, help="newest runs seeded with every event (default 1000)")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    for backend in ["sqlite", "postgres"] if args.backend == "both" else [args.backend]:
        print(report(bench(args.runs, backend, args.full_runs)), flush=True)


if __name__ == "__main__":
    main()
