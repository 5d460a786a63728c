"""Benchmark of profiles from chunk summaries (issue #18): CPU of the whole-frame profile against
summaries per chunk + one merge, and the size of a summary.

    python bench/profile_benchmark.py                      # 1M customers-like rows
    python bench/profile_benchmark.py --rows 200000 --chunks 50000

Side by side in one run, per layer (raw text as received; cleaned as typed by the rules), one
thread each so CPU seconds compare work, not scheduling:
  - main's profile_frame (loaded from git, before chunk summaries), when main still has it;
  - profile_frame on the whole frame (today: the merge of one summary);
  - profile_summary on each chunk + merge_profiles, per chunk size;
and the pickled size of a chunk's summary (what travels between processes), the merge's own CPU,
and which fields the chunked profile reports as approximate.
"""

from __future__ import annotations

import argparse
import importlib.util
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

from dq_platform.contract import CONTRACTS_DIR, load_contract  # noqa: E402
from dq_platform.demo.sample_data import generate  # noqa: E402
from dq_platform.engine import rules  # noqa: E402
from dq_platform.engine.profiling import merge_profiles, profile_frame, profile_summary  # noqa: E402


def previous_profiling():
    """main's engine/profiling.py as a module (its whole-frame profile), or None when main's is
    built on chunk summaries already."""
    try:
        text = subprocess.run(
            ["git", "show", "main:dq_platform/engine/profiling.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError:
        return None
    if "engine.profile_merge" in text:
        return None
    path = ROOT / ".bench" / "profiling_previous.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("profiling_previous", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["profiling_previous"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def measured(fn, *args, **kwargs):
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.process_time() - cpu, time.perf_counter() - wall


def chunked(frame, contract, layer, size):
    parts = [profile_summary(frame.iloc[a : a + size], contract, layer, threads=1) for a in range(0, len(frame), size)]
    merge_cpu = time.process_time()
    profile = merge_profiles(parts, contract, layer)
    return profile, parts, time.process_time() - merge_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunks", type=int, nargs="+", default=[100_000, 250_000], help="chunk sizes (rows)")
    args = ap.parse_args()
    contract = load_contract(CONTRACTS_DIR / "customers.yaml")
    raw = generate(contract, args.rows, seed=0).frame
    cleaned = rules.evaluate(raw.assign(_source_line=range(2, len(raw) + 2)), contract).cleaned
    previous = previous_profiling()
    print(f"customers-like frame: {len(raw):,} raw rows, {len(cleaned):,} cleaned; one thread per run\n")
    print("| layer | how | CPU s | wall s | vs whole | summary bytes/chunk (largest column) | approximate fields |")
    print("|---|---|---|---|---|---|---|")
    for layer, frame in (("raw", raw), ("cleaned", cleaned)):
        if previous is not None:
            _, cpu, wall = measured(previous.profile_frame, frame, contract, layer, threads=1)
            print(f"| {layer} | main's profile_frame (whole) | {cpu:.2f} | {wall:.2f} | | | |")
        whole, base, wall = measured(profile_frame, frame, contract, layer, threads=1)
        print(f"| {layer} | profile_frame (whole = 1 summary + merge) | {base:.2f} | {wall:.2f} | 1.00 | | - |")
        for size in args.chunks:
            (profile, parts, merge_cpu), cpu, wall = measured(chunked, frame, contract, layer, size)
            sizes = [len(pickle.dumps(p)) for p in parts]
            col = max((len(pickle.dumps(c)), c.name) for c in parts[0].columns)
            approx = sorted(
                {f"{c.name}.{k}" for c in profile.columns for k in (c.approximate or {})},
            )
            print(
                f"| {layer} | {len(parts)} chunks of {size:,} + merge ({merge_cpu:.2f} s) | {cpu:.2f} | {wall:.2f} | "
                f"{cpu / base:.2f} | {max(sizes):,} ({col[1]} {col[0]:,}) | {', '.join(approx) or '-'} |"
            )
            exact = [
                c.name
                for c, w in zip(profile.columns, whole.columns)
                if (c.non_null, c.format_share) != (w.non_null, w.format_share)
            ]
            assert not exact, f"counts differ from the whole frame's: {exact}"
    pd.set_option("display.width", 200)


if __name__ == "__main__":
    main()
