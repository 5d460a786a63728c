"""Benchmark: the pandera and GX gates whole-frame vs per-chunk partials + merge (issue #18).

    python bench/gates_benchmark.py                    # 1M customers rows, chunks 100k/250k/1M
    python bench/gates_benchmark.py --rows 200000 --chunks 50000,200000

Builds a cleaned customers frame the way the clean step does (demo sample -> row rules), with a
few injected failures (so failure paths run: a null id, an out-of-range income, a duplicate id
two chunks apart), then prints CPU seconds side by side in one run:
- the import cost of pandera and GX (fresh interpreters) and the per-call overhead of each
  partial on 1-, 10k- and 250k-row chunks (median of 3), to pick a chunk size;
- run_pandera / run_gx on the whole frame vs the sum of the partials + merge at each chunk size,
  the size of the pickled partials, and whether the merged result equals the whole one.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import subprocess
import sys
import time

import pandas as pd

NOW = pd.Timestamp("2025-06-01")


def cleaned_customers(rows: int):
    from dq_platform.contract import load_contracts
    from dq_platform.demo.sample_data import generate
    from dq_platform.engine import rules

    contract = {c.name: c for c in load_contracts()}["customers"]
    raw = generate(contract, rows=rows, seed=3, bad_fraction=0.04).table
    raw = raw.to_pandas(types_mapper=lambda t: pd.StringDtype()).astype("string")
    raw[rules.SOURCE_LINE] = range(2, 2 + len(raw))
    df = rules.evaluate(raw, contract, today=NOW).cleaned
    del raw
    n = len(df)
    df.iloc[n // 3, df.columns.get_loc("customer_id")] = None
    df.iloc[n // 2, df.columns.get_loc("income")] = -5.0
    df.iloc[n - 1, df.columns.get_loc("customer_id")] = df["customer_id"].iloc[7]
    return contract, df


def import_seconds(module: str) -> float:
    """CPU seconds of importing `module` in a fresh interpreter (median of 3)."""
    code = (
        "import os, time; os.environ.setdefault('GX_ANALYTICS_ENABLED', 'false'); "
        f"t = time.process_time(); import {module}; print(time.process_time() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout) for _ in range(3)
    ]
    return statistics.median(runs)


def cpu(fn, repeat: int = 1):
    """(median CPU seconds, last result)."""
    times, out = [], None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return statistics.median(times), out


def comparable(result) -> tuple:
    md = result.to_metadata()
    md.pop("duration_s")
    return result.passed, result.summary, result.failures, md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunks", default="100000,250000,1000000")
    args = ap.parse_args()

    from dq_platform.engine.gx_gate import gx_partial, merge_gx, run_gx
    from dq_platform.engine.pandera_gate import merge_pandera, pandera_partial, run_pandera

    print(f"import (fresh process, CPU-s): pandera {import_seconds('pandera.pandas'):.2f}  ", end="")
    print(f"great_expectations {import_seconds('great_expectations'):.2f}")
    t = time.perf_counter()
    contract, df = cleaned_customers(args.rows)
    print(f"cleaned customers frame: {len(df):,} rows ({time.perf_counter() - t:.1f} s to build)")
    gates = {
        "pandera": (run_pandera, pandera_partial, merge_pandera),
        "gx": (run_gx, gx_partial, merge_gx),
    }
    for _run, partial, _merge in gates.values():
        partial(contract, df.head(1), now=NOW)  # warm: imports, context, suite caches

    print("\nper-call CPU-s of one partial (median of 3):")
    print(f"{'chunk rows':>12} {'pandera_partial':>16} {'gx_partial':>12}")
    for n in (1, 10_000, 250_000):
        chunk = df.head(n).reset_index(drop=True)
        p = cpu(lambda chunk=chunk: pandera_partial(contract, chunk, now=NOW), 3)[0]
        g = cpu(lambda chunk=chunk: gx_partial(contract, chunk, now=NOW), 3)[0]
        print(f"{n:>12,} {p:>16.3f} {g:>12.3f}")

    sizes = [int(s) for s in args.chunks.split(",")]
    print(f"\nwhole frame vs per-chunk partials + merge ({len(df):,} rows; CPU-s; one process, chunks in turn):")
    print(f"{'gate':<8} {'whole':>7} " + " ".join(f"{f'{s // 1000}k chunks':>22}" for s in sizes))
    for gate, (run, partial, merge) in gates.items():
        whole_s, whole = cpu(lambda run=run: run(contract, df, now=NOW))
        cells = []
        for size in sizes:
            chunks = [df.iloc[a : a + size].reset_index(drop=True) for a in range(0, len(df), size)]
            t = time.process_time()
            parts = [partial(contract, c, now=NOW) for c in chunks]
            part_s = time.process_time() - t
            blob = len(pickle.dumps(parts))
            merge_s, merged = cpu(lambda parts=parts, merge=merge: merge(contract, parts))
            same = "=" if comparable(merged) == comparable(whole) else "DIFFERS"
            cells.append(f"{part_s:6.2f}+{merge_s:4.2f} {blob / 1e6:5.1f}MB {same}")
        print(f"{gate:<8} {whole_s:>7.2f} " + " ".join(f"{c:>22}" for c in cells))
    print("\ncells: partials CPU-s + merge CPU-s, pickled partials size, '=' if merged == whole (minus duration)")


if __name__ == "__main__":
    main()
