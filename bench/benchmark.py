"""Benchmark: the whole raw -> gold job, all gates on, against its own I/O floor.

    python bench/benchmark.py                  # 1M and 5M customer rows
    python bench/benchmark.py --rows 200000    # any sizes

For each size, in a fresh process (so peak memory is the job's own): generate a messy
customers CSV (in another process), run the real `customers_pipeline` job through Dagster,
read each stage's seconds from the run's materialization metadata, then measure the floor:
reading the same input once with pyarrow plus writing each persisted layer once to Delta.
Target (issue #2): job <= 3x floor at 1M rows; peak RSS < 6 GB at 5M rows.

    python bench/benchmark.py --audit-runs 10000            # audit page on SQLite and PostgreSQL
    python bench/benchmark.py --audit-runs 10000 --audit-backend sqlite

Audit mode (issue #5): seeds N runs into a throw-away instance through Dagster's own storage
API (runs plus the events a real run stores: materializations with row counts, check
evaluations, step failures), then times `dq-platform audit`'s default page (newest 50), its
filters, `audit show` and the platform_health computation. Target: default page < 2 s.
PostgreSQL: a throw-away database on 127.0.0.1:5432 (DQ_BENCH_PG_SERVER), dropped afterwards.

    python bench/benchmark.py --small [--runs 5 --files 50 --prev main]   # bench/small.py

    python bench/benchmark.py --history-files 300 [--history-every-hours 24]

History mode (defs/review.py): seeds N customers files (raw + cleaned materializations with the
metadata the history checks read; every 10th file re-run later) and times each history check's
storage reads and judgement, with the number of storage queries, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"


def generate_input(rows: int, path: Path, seed: int = 1000, block: int = 500_000) -> None:
    """Write the input CSV in blocks of `block` rows (memory stays that of one block at any size):
    block i has seed `seed + i` and 4% faulty rows, ids run on across blocks."""
    import pyarrow.csv as pacsv

    from dq_platform.contract import load_contracts
    from dq_platform.demo.sample_data import generate

    contract = {c.name: c for c in load_contracts()}["customers"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for i, start in enumerate(range(0, rows, block)):
            n = min(block, rows - start)
            table = generate(contract, rows=n, seed=seed + i, bad_fraction=0.04, id_offset=start).table
            pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=i == 0))


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, its threads and its finished child processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def one(rows: int, executor: str = "in_process") -> dict:
    import dagster as dg
    import pyarrow.csv as pacsv

    from dq_platform.contract import load_contracts
    from dq_platform.defs.file_runs import run_file
    from dq_platform.defs.partitions import register
    from dq_platform.io.warehouse import Warehouse

    os.environ.setdefault("DQ_MASKING_KEY", "benchmark-only-key-0123456789abcdef")
    base = WORK / f"run_{rows}"
    shutil.rmtree(base, ignore_errors=True)
    src = WORK / "input" / f"customers/customers_{rows}.csv"
    if not src.exists():
        subprocess.run([sys.executable, __file__, "--generate", str(rows), str(src)], check=True)

    from dq_platform.contract import CONTRACTS_DIR

    contracts = [c for c in load_contracts() if c.name == "customers"]
    warehouse = str(base / "warehouse")
    (base / "home").mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(base / "home")) as instance:
        source = register(instance, contracts[0], src, warehouse)
        t0, c0 = time.perf_counter(), _cpu_seconds()
        outcome = run_file(
            instance, contracts[0], source, contracts_dir=CONTRACTS_DIR, warehouse_root=warehouse, executor=executor
        )
        total, job_cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        if not outcome.success:
            raise SystemExit(f"job failed: {outcome.error}")
        stages: dict[str, float] = {}
        peaks: dict[str, float] = {}  # process peak RSS (MB) when each table was written
        for event in instance.get_records_for_run(outcome.run_id).records:
            dag = event.event_log_entry.dagster_event
            if dag is None or dag.event_type_value != "ASSET_MATERIALIZATION":
                continue
            mat = dag.event_specific_data.materialization
            asset = mat.asset_key.path[-1]
            for key, value in mat.metadata.items():
                if key == "memory/process_peak_mb":
                    peaks[asset] = float(value.value)
                if key.startswith("seconds/"):
                    stage = key.split("/", 1)[1]
                    name = f"{stage} {asset}" if stage in ("write", "profile") else stage
                    stages[name] = stages.get(name, 0.0) + float(value.value)
        run = instance.get_run_stats(outcome.run_id)
        run_seconds = run.end_time - run.start_time

    # the job's peak: this process (in_process executor), or its largest step process (multiprocess)
    peak_gb = (
        max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        / 1024
        / 1024
    )
    # The floor: read the input once, write each persisted layer once, nothing else.
    wh = Warehouse(root=warehouse)
    layers = (
        "raw_customers",
        "cleaned_customers",
        "quarantine_customers",
        "masked_customers",
        "customers_by_status",
        "customers_by_age_band",
        "customers_by_city",
    )
    floor = {}
    floor_cpu = 0.0
    c0 = _cpu_seconds()
    t0 = time.perf_counter()
    pacsv.read_csv(src)
    floor["read input"] = time.perf_counter() - t0
    floor_cpu += _cpu_seconds() - c0
    floor_wh = Warehouse(root=str(base / "floor"))
    for name in layers:
        frame = wh.read(name).drop(columns=["_partition"], errors="ignore")
        t0 = time.perf_counter()
        c1 = _cpu_seconds()
        floor_wh.write(name, frame, partition="p" if "by_" not in name else None, run_id="floor")
        floor[f"write {name}"] = time.perf_counter() - t0
        floor_cpu += _cpu_seconds() - c1
        del frame
    return {
        "rows": rows,
        "executor": executor,
        "job_seconds": total,
        "run_seconds": run_seconds,
        "stages": stages,
        "floor": floor,
        "floor_seconds": sum(floor.values()),
        "peak_rss_gb": peak_gb,
        "peaks_mb": peaks,
        "job_cpu_seconds": job_cpu,
        "floor_cpu_seconds": floor_cpu,
        "cores": os.cpu_count() or 1,
        "outcome_rows": outcome.rows,
    }


def report(r: dict) -> str:
    rows = r["rows"]
    out = [
        f"\n== {rows:,} customer rows, {r['executor']} executor  (in {r['outcome_rows'].get('in'):,} / cleaned "
        f"{r['outcome_rows'].get('cleaned'):,} / quarantined {r['outcome_rows'].get('quarantined'):,})",
        f"{'stage':<34}{'seconds':>9}{'rows/s':>14}",
    ]
    for name, s in sorted(r["stages"].items(), key=lambda kv: -kv[1]):
        out.append(f"  {name:<32}{s:>9.2f}{rows / s if s else 0:>14,.0f}")
    accounted = sum(r["stages"].values())
    out.append(f"  {'(Dagster, loads, other)':<32}{r['job_seconds'] - accounted:>9.2f}")
    out.append(f"{'job total (all gates on)':<34}{r['job_seconds']:>9.2f}{rows / r['job_seconds']:>14,.0f}")
    out.append("floor (same process):")
    for name, s in r["floor"].items():
        out.append(f"  {name:<32}{s:>9.2f}")
    ratio = r["job_seconds"] / r["floor_seconds"]
    out.append(f"{'floor total':<34}{r['floor_seconds']:>9.2f}")
    out.append(f"job / floor: {ratio:.2f}x   peak RSS: {r['peak_rss_gb']:.2f} GB")
    if "job_cpu_seconds" in r:
        # however well the work were spread over the cores, the job cannot finish sooner than this
        bound = r["job_cpu_seconds"] / r["cores"]
        out.append(
            f"CPU seconds: job {r['job_cpu_seconds']:.1f}, floor {r['floor_cpu_seconds']:.1f}; "
            f"job CPU / {r['cores']} cores = {bound:.1f} s = {bound / r['floor_seconds']:.2f}x floor "
            f"(the ratio with every core busy all the time)"
        )
    out.append(
        "process peak RSS when each table was written (MB): "
        + ", ".join(f"{k} {v:,.0f}" for k, v in r.get("peaks_mb", {}).items())
    )
    return "\n".join(out)


def seed_audit_runs(instance, n: int, full: int) -> None:
    """N runs written through Dagster's storage API (no pipeline executes), oldest first.

    The newest `full` runs carry the events a real run stores (run start/end, materializations
    with row counts, check evaluations, step failures); the older ones are run records with
    their tags and final status only, because storing events through Dagster costs ~0.3 s of
    CPU per run here (10,000 full runs would take ~50 min per backend). The audit page reads the
    events of the 50 runs it shows; every filter runs over all N run records.
    """
    import uuid

    import dagster as dg
    from dagster import DagsterEvent, DagsterEventType
    from dagster._core.events import StepMaterializationData
    from dagster._core.execution.plan.objects import StepFailureData
    from dagster._utils.error import SerializableErrorInfo

    datasets = ["customers", "sales_transactions"]
    checks = [
        "dagster_row_count_bounds_check",
        "column_schema_change",
        "failure_rate_within_threshold",
        "cleaned_matches_pandera_schema",
        "cleaned_passes_gx_suite",
        "raw_rows_reconcile_with_cleaned_and_quarantine",
        "masked_source_passed_gates",
        "masked_has_no_pii",
    ]
    from dagster._core.storage.dagster_run import DagsterRun

    start = time.time() - 30 * 86400
    for i in range(n):
        ds = datasets[i % 2]
        job = f"{ds}_pipeline"
        partition = f"{ds}_{i:05d}.csv@{uuid.uuid4().hex[:16]}"
        outcome = "ok" if i % 10 else ("held" if i % 20 else "error")
        tags = {
            "dq/dataset": ds,
            "dagster/partition": partition,
            "dq/source_uri": f"s3://landing/{partition}",
            "dq/checksum": uuid.uuid4().hex * 2,
            "dq/trigger": ["sensor", "cli", "demo"][i % 3],
        }
        if i < n - full:
            status = dg.DagsterRunStatus.SUCCESS if outcome == "ok" else dg.DagsterRunStatus.FAILURE
            instance.add_run(DagsterRun(job_name=job, run_id=str(uuid.uuid4()), tags=tags, status=status))
            continue
        run = instance.add_run(
            DagsterRun(job_name=job, run_id=str(uuid.uuid4()), tags=tags, status=dg.DagsterRunStatus.NOT_STARTED)
        )
        ts = start + i * (30 * 86400 / n)

        def report(event_type, step=None, data=None, at=0.0, message=None):
            instance.report_dagster_event(
                DagsterEvent(
                    event_type_value=event_type.value,
                    job_name=job,
                    step_key=step,
                    event_specific_data=data,
                    message=message,
                ),
                run.run_id,
                timestamp=ts + at,
            )

        def materialize(name, **meta):
            report(
                DagsterEventType.ASSET_MATERIALIZATION,
                f"{name}",
                StepMaterializationData(
                    dg.AssetMaterialization(
                        asset_key=name, partition=partition, metadata={**meta, "dagster/row_count": 1}
                    )
                ),
                at=1.0,
            )

        def evaluate(asset, check, passed):
            report(
                DagsterEventType.ASSET_CHECK_EVALUATION,
                asset,
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey(asset),
                    check_name=check,
                    passed=passed,
                    metadata={"rows_in": 1000},
                    severity=dg.AssetCheckSeverity.ERROR,
                    description="seeded",
                ),
                at=1.5,
            )

        report(DagsterEventType.RUN_START)
        if outcome == "error":
            err = SerializableErrorInfo(
                "SourceFileError: bad.csv:1: binary content", ["  File x, line 1\n"], "SourceFileError"
            )
            report(DagsterEventType.STEP_FAILURE, f"raw_{ds}", StepFailureData(err, None), at=1.0, message="failed")
            report(DagsterEventType.RUN_FAILURE, at=2.0, message="run failed")
            continue
        materialize(f"raw_{ds}", rows_in=1000)
        materialize(f"cleaned_{ds}", rows_in=1000, rows_cleaned=970, rows_quarantined=30)
        materialize(f"quarantine_{ds}", rows_quarantined=30)
        for check in checks[:6]:
            evaluate(f"cleaned_{ds}", check, not (outcome == "held" and check == "failure_rate_within_threshold"))
        if outcome == "held":
            report(DagsterEventType.RUN_FAILURE, at=2.0, message="held by a gate")
            continue
        materialize(f"masked_{ds}", rows_masked=970)
        for check in checks[6:]:
            evaluate(f"masked_{ds}", check, True)
        report(DagsterEventType.RUN_SUCCESS, at=3.0)


def _timed(fn, repeat: int = 5) -> tuple[float, float]:
    """(first, median of the rest) wall seconds: the first call pays cold caches."""
    import statistics

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[1:])


def _pg_database(prefix: str):
    """A throw-away database on DQ_BENCH_PG_SERVER: (its URL, a function that drops it)."""
    import uuid

    import sqlalchemy as sa

    server = os.environ.get("DQ_BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        # seeding only: commits need not wait for the disk (reads, which are timed, are unaffected)
        c.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))

    def drop():
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return f"{server}/{name}", drop


@contextlib.contextmanager
def throwaway_instance(prefix: str, backend: str):
    """A new Dagster instance for one benchmark, on SQLite (a temporary folder) or PostgreSQL (a
    throw-away database), removed afterwards."""
    import tempfile

    import dagster as dg

    from dq_platform.settings import render_instance_config

    WORK.mkdir(exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"{prefix}_{backend}_", dir=WORK))
    env, drop = {}, None
    if backend == "postgres":
        env["DAGSTER_PG_URL"], drop = _pg_database(f"dq_{prefix}_bench")
        os.environ.update(env)
    (home / "dagster.yaml").write_text(render_instance_config(ROOT / "dagster.yaml", env))
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if drop:
            drop()


def audit_bench(n: int, backend: str, full: int) -> dict:

    import dagster as dg

    from dq_platform.defs.health import compute_health
    from dq_platform.ops.audit import format_rows, list_runs, run_detail

    with throwaway_instance("audit", backend) as instance:
        t0 = time.perf_counter()
        seed_audit_runs(instance, n, min(full, n))
        seed_s = time.perf_counter() - t0
        newest = list_runs(instance, limit=1)[0].run_id
        checks = {
            ds: [dg.AssetCheckKey(dg.AssetKey(f"cleaned_{ds}"), "failure_rate_within_threshold")]
            for ds in ("customers", "sales_transactions")
        }
        timings = {
            "audit (default page: newest 50, table)": _timed(lambda: format_rows(list_runs(instance))),
            "audit --dataset customers --status failure": _timed(
                lambda: list_runs(instance, dataset="customers", statuses=[dg.DagsterRunStatus.FAILURE])
            ),
            "audit --limit 500 --format json": _timed(lambda: format_rows(list_runs(instance, limit=500), "json"), 3),
            "audit show <newest run>": _timed(lambda: run_detail(instance, newest)),
            "platform_health (30 days, 1 check/dataset)": _timed(lambda: compute_health(instance, checks, 30), 3),
        }
        page = list_runs(instance)
        # the page holds the newest 50; only the newest `full` runs were seeded with their events
        with_events = page[: min(full, n)]
        assert len(page) == min(50, n) and page[0].run_id == newest
        assert all(r.rows_in is not None or r.error for r in with_events), "a run with events shows no rows"
        runs = instance.get_runs_count()
    return {"backend": backend, "runs": runs, "full_runs": min(full, n), "seed_seconds": seed_s, "timings": timings}


def report_audit(r: dict) -> str:
    out = [
        f"\n== audit log on {r['backend']}: {r['runs']:,} runs, the newest {r['full_runs']:,} with full event sets "
        f"(seeded in {r['seed_seconds']:.0f}s)",
        f"{'query':<48}{'first s':>9}{'median s':>10}",
    ]
    for name, (first, median) in r["timings"].items():
        out.append(f"  {name:<46}{first:>9.3f}{median:>10.3f}")
    page = r["timings"]["audit (default page: newest 50, table)"]
    out.append(f"default page target < 2 s: {'met' if max(page) < 2 else 'NOT met'} ({max(page):.3f}s worst)")
    return "\n".join(out)


def seed_history(instance, n: int, every_s: float, now: float) -> None:
    """n customers files, one every `every_s` seconds up to now, through Dagster's event storage."""
    import uuid

    import dagster as dg
    from dagster import DagsterEvent, DagsterEventType
    from dagster._core.events import StepMaterializationData
    from dagster._core.storage.dagster_run import DagsterRun

    from dq_platform.contract import load_contract
    from dq_platform.defs.history_checks import column_metrics

    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name="customers_pipeline", run_id=run_id, status=dg.DagsterRunStatus.SUCCESS))
    profile = [key for _, key, _ in column_metrics(load_contract(ROOT / "dq_platform/contracts/customers.yaml"))]

    def materialize(asset, partition, ts, **meta):
        instance.report_dagster_event(
            DagsterEvent(
                event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                job_name="customers_pipeline",
                step_key=asset,
                event_specific_data=StepMaterializationData(
                    dg.AssetMaterialization(asset_key=asset, partition=partition, metadata=meta)
                ),
            ),
            run_id,
            timestamp=ts,
        )

    events = []
    for i in range(n):
        ts = now - (n - i) * every_s
        events.append((ts, i))
        if i % 10 == 0:
            events.append((min(ts + 5 * every_s, now - 1), i))  # a re-run of the file, later
    for ts, i in sorted(events):
        part = f"customers_{i:05d}.csv@{i:016x}"
        materialize("raw_customers", part, ts, rows_in=1000 + i % 7, parse_errors=0, **{"dagster/row_count": 1000})
        materialize(
            "cleaned_customers",
            part,
            ts + 1,
            rows_in=1000,
            rows_cleaned=970,
            rows_quarantined=30,
            failure_rate=0.03 + (i % 5) / 1000,
            **{k: 0.01 * (i % 3) + 0.5 * k.endswith("mean") for k in profile},
        )


def history_bench(n: int, every_hours: float, backend: str) -> dict:
    """Each history check's reading + judgement on an instance holding n files' materializations."""
    import tempfile

    import dagster as dg

    from dq_platform.contract import load_contract
    from dq_platform.defs.history_read import horizon_for, judge_arrival, judge_value, read_history, settings_of
    from dq_platform.engine.history import COUNT, RATE

    contract = load_contract(ROOT / "dq_platform/contracts/customers.yaml")
    settings = settings_of(contract.history)
    raw, cleaned = dg.AssetKey("raw_customers"), dg.AssetKey("cleaned_customers")
    overrides, drop = None, None
    if backend == "postgres":
        url, drop = _pg_database("dq_history_bench")
        overrides = {
            "storage": {"postgres": {"postgres_url": url.replace("postgresql://", "postgresql+psycopg2://", 1)}}
        }
    try:
        with dg.instance_for_test(overrides=overrides, temp_dir=tempfile.mkdtemp(dir=WORK)) as instance:
            now = time.time()
            t0 = time.perf_counter()
            seed_history(instance, n, every_hours * 3600, now)
            seed_s = time.perf_counter() - t0
            newest = instance.fetch_materializations(raw, limit=1).records[0].asset_materialization.partition
            queries = {}

            def raw_file():
                read = read_history(instance, raw, before=None, horizon=horizon_for(settings, newest, True, True))
                judge_value(read, "rows_in", newest, settings, COUNT)
                judge_arrival(read, newest, now, settings)
                queries["raw checks in a file's run (row count + arrival)"] = (read.queries, len(read.materializations))

            def overdue():
                read = read_history(instance, raw, before=now, horizon=horizon_for(settings, None, False, True))
                judge_arrival(read, None, now, settings)
                queries["hourly overdue watch (arrival)"] = (read.queries, len(read.materializations))

            def cleaned_file():
                from dq_platform.defs.history_checks import _column_metrics_result, column_metrics

                read = read_history(instance, cleaned, before=None, horizon=horizon_for(settings, newest, True, False))
                judge_value(read, "failure_rate", newest, settings, RATE)
                _column_metrics_result(
                    cleaned, read, newest, settings, dg.AssetCheckSeverity.WARN, column_metrics(contract)
                )
                queries["cleaned checks in a file's run (failure rate + 12 column metrics)"] = (
                    read.queries,
                    len(read.materializations),
                )

            def everything():
                read = read_history(instance, raw, before=None, horizon=lambda first, newest: -float("inf"))
                queries["(for comparison) every raw materialization"] = (read.queries, len(read.materializations))

            timings = {
                "raw checks in a file's run (row count + arrival)": _timed(raw_file),
                "hourly overdue watch (arrival)": _timed(overdue),
                "cleaned checks in a file's run (failure rate + 12 column metrics)": _timed(cleaned_file),
                "(for comparison) every raw materialization": _timed(everything),
            }
    finally:
        if drop:
            drop()
    return {
        "backend": backend,
        "files": n,
        "every_hours": every_hours,
        "seed_seconds": seed_s,
        "timings": timings,
        "queries": queries,
    }


def report_history(r: dict) -> str:
    out = [
        f"\n== history checks on {r['backend']}: {r['files']} files, one every {r['every_hours']:g} h, every 10th "
        f"re-run (seeded in {r['seed_seconds']:.0f}s)",
        f"{'check':<70}{'queries':>8}{'records':>9}{'first s':>9}{'median s':>10}",
    ]
    for name, (first, median) in r["timings"].items():
        q, n = r["queries"][name]
        out.append(f"  {name:<68}{q:>8}{n:>9}{first:>9.3f}{median:>10.3f}")
    return "\n".join(out)


def main() -> None:
    if "--small" in sys.argv:  # small files' fixed cost (bench/small.py; its options follow)
        sys.path.insert(0, str(Path(__file__).parent))
        from small import main as small

        small([a for a in sys.argv[1:] if a != "--small"])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    p.add_argument(
        "--executor",
        choices=["in_process", "multiprocess"],
        default="in_process",
        help="in_process: the whole run in one process (pessimistic for memory); "
        "multiprocess: a process per step, as daemon-launched runs execute",
    )
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--keep", action="store_true", help="keep .bench/ (inputs are reused across runs)")
    p.add_argument("--audit-runs", type=int, help="audit mode: seed this many runs and time the audit page")
    p.add_argument("--audit-backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument(
        "--audit-full-runs",
        type=int,
        default=1000,
        help="how many of the newest seeded runs carry full event sets (default 1000)",
    )
    p.add_argument("--history-files", type=int, help="history mode: seed this many files and time the history checks")
    p.add_argument("--history-every-hours", type=float, default=24.0)
    args = p.parse_args()
    if args.history_files:
        WORK.mkdir(exist_ok=True)
        for backend in ["sqlite", "postgres"] if args.audit_backend == "both" else [args.audit_backend]:
            print(report_history(history_bench(args.history_files, args.history_every_hours, backend)), flush=True)
        return
    if args.audit_runs:
        WORK.mkdir(exist_ok=True)
        for backend in ["sqlite", "postgres"] if args.audit_backend == "both" else [args.audit_backend]:
            result = audit_bench(args.audit_runs, backend, args.audit_full_runs)
            print(report_audit(result), flush=True)
            (WORK / f"audit_{backend}.json").write_text(json.dumps(result, indent=2))
        return
    if args.generate:
        generate_input(int(args.generate[0]), Path(args.generate[1]))
        return
    if args.one:
        print(json.dumps(one(args.one, args.executor)))
        return
    results = []
    for rows in args.rows:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(rows), "--executor", args.executor], capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"benchmark at {rows} rows failed")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(result)
        print(report(result), flush=True)
    (WORK / "results.json").write_text(json.dumps(results, indent=2))
    if not args.keep:
        for d in WORK.glob("run_*"):
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
