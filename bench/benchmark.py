"""Benchmark: the whole raw -> gold job, all gates on, against its own I/O floor.

    python bench/benchmark.py                  # 1M and 5M customer rows
    python bench/benchmark.py --rows 200000    # any sizes

For each size, in a fresh process (so peak memory is the job's own): generate a messy
customers CSV (in another process), run the real `customers_pipeline` job through Dagster,
read each stage's seconds from the run's materialization metadata, then measure the floor:
reading the same input once with pyarrow plus writing each persisted layer once to Delta.
Target (issue #2): job <= 3x floor at 1M rows; peak RSS < 6 GB at 5M rows.
"""

from __future__ import annotations

import argparse
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


def generate_input(rows: int, path: Path) -> None:
    """Write the input CSV in chunks (keeps the generator's memory out of the job's)."""
    from dq_platform.contract import load_contracts
    from dq_platform.sample_data import generate

    import pyarrow.csv as pacsv

    contract = {c.name: c for c in load_contracts()}["customers"]
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = 500_000
    with open(path, "wb") as f:
        for i, start in enumerate(range(0, rows, chunk)):
            n = min(chunk, rows - start)
            table = generate(contract, rows=n, seed=1000 + i, bad_fraction=0.04, id_offset=start).table
            pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=i == 0))


def one(rows: int, executor: str = "in_process") -> dict:
    import dagster as dg
    import pyarrow.csv as pacsv

    from dq_platform.contract import load_contracts
    from dq_platform.ingest import register, run_file
    from dq_platform.storage import Warehouse

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
        t0 = time.perf_counter()
        outcome = run_file(instance, contracts[0], source, contracts_dir=CONTRACTS_DIR, warehouse_root=warehouse,
                           executor=executor)
        total = time.perf_counter() - t0
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
                    name = f"write {asset}" if stage == "write" else stage
                    stages[name] = stages.get(name, 0.0) + float(value.value)
        run = instance.get_run_stats(outcome.run_id)
        run_seconds = run.end_time - run.start_time

    # the job's peak: this process (in_process executor), or its largest step process (multiprocess)
    peak_gb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024 / 1024
    # The floor: read the input once, write each persisted layer once, nothing else.
    wh = Warehouse(root=warehouse)
    layers = ("raw_customers", "cleaned_customers", "quarantine_customers", "masked_customers",
              "customers_by_status", "customers_by_age_band", "customers_by_city")
    floor = {}
    t0 = time.perf_counter()
    pacsv.read_csv(src)
    floor["read input"] = time.perf_counter() - t0
    floor_wh = Warehouse(root=str(base / "floor"))
    for name in layers:
        frame = wh.read(name).drop(columns=["_partition"], errors="ignore")
        t0 = time.perf_counter()
        floor_wh.write(name, frame, partition="p" if "by_" not in name else None, run_id="floor")
        floor[f"write {name}"] = time.perf_counter() - t0
        del frame
    return {"rows": rows, "executor": executor, "job_seconds": total, "run_seconds": run_seconds, "stages": stages,
            "floor": floor, "floor_seconds": sum(floor.values()), "peak_rss_gb": peak_gb, "peaks_mb": peaks,
            "outcome_rows": outcome.rows}


def report(r: dict) -> str:
    rows = r["rows"]
    out = [f"\n== {rows:,} customer rows, {r['executor']} executor  (in {r['outcome_rows'].get('in'):,} / cleaned "
           f"{r['outcome_rows'].get('cleaned'):,} / quarantined {r['outcome_rows'].get('quarantined'):,})",
           f"{'stage':<34}{'seconds':>9}{'rows/s':>14}"]
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
    out.append("process peak RSS when each table was written (MB): " + ", ".join(
        f"{k} {v:,.0f}" for k, v in r.get("peaks_mb", {}).items()))
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    p.add_argument("--executor", choices=["in_process", "multiprocess"], default="in_process",
                   help="in_process: the whole run in one process (pessimistic for memory); "
                        "multiprocess: a process per step, as daemon-launched runs execute")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--keep", action="store_true", help="keep .bench/ (inputs are reused across runs)")
    args = p.parse_args()
    if args.generate:
        generate_input(int(args.generate[0]), Path(args.generate[1]))
        return
    if args.one:
        print(json.dumps(one(args.one, args.executor)))
        return
    results = []
    for rows in args.rows:
        proc = subprocess.run([sys.executable, __file__, "--one", str(rows), "--executor", args.executor],
                              capture_output=True, text=True)
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
