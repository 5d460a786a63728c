"""Scale benchmark (issue #18): the whole `dq-platform ingest` job against its peers at 1M-20M rows.

    python bench/scale.py                                  # 1M, 5M, 20M; each run once
    python bench/scale.py --sizes 1M,5M --repeat 3 --json out.json
    python bench/scale.py --sizes 1M --workers 2 --chunk-mb 64 [--dask tcp://127.0.0.1:8786]
    python bench/scale.py --sizes 5M --sweep-chunk-mb 16,32,64,128,256   # the job alone, per chunk size

For each size, side by side in one run, each in a process of its own on the same cached file:
  ingest       `dq-platform ingest` on a throw-away instance: process start to published
  handwritten  a normalizing pandas script giving the same cleaned rows (bench/peers.py)
  gx           Great Expectations alone on the same rules (counts only, no cleaning)
  floor        pyarrow read + three Delta writes (the job writes three full-size layers)
Measured per process tree: wall; CPU = user + sys of the whole tree (RUSAGE_CHILDREN after wait,
so step and worker processes count); peak RSS = the tree's summed RSS sampled every 0.1 s (and the
largest single process); parallel efficiency = CPU / (wall x cores). A tree above --ceiling-gb, or
a machine with less than --min-free-gb available, is killed and reported "OOM at X GB".
--chunk-mb / --workers / --dask are handed to the job as DQ_CHUNK_MB / DQ_WORKERS / DQ_DASK_SCHEDULER.

Inputs are generated streaming (bench/benchmark.generate_input: blocks of 500k rows, same content
and 4% faulty rows as the 1M benchmark file) and cached in .bench/scale/ by rows and seed.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import ROOT, WORK, generate_input, throwaway_instance  # noqa: E402

SCALE = WORK / "scale"
HISTORY = SCALE / "history.jsonl"
BIN = Path(sys.executable).parent
PEERS = Path(__file__).resolve().parent / "peers.py"
RUNS = ("ingest", "handwritten", "gx", "floor")
GB = 1024**3
TRY_PEERS_UP_TO = 5_000_000  # above this, a peer runs only if its measured memory per row says it fits

# Issue #18's "today" (2-core / 24 GiB machine, quiet, medians): printed beside the new numbers.
TODAY = {
    ("ingest", 1_000_000): "34-39 CPU-s, 26-29 s wall, 2.7 GB",
    ("ingest", 2_000_000): "4.6 GB",
    ("ingest", 4_000_000): "8.3 GB",
    ("ingest", 5_000_000): "~10 GB at 2.0 KB/row",
    ("ingest", 20_000_000): "OOM (largest file ~10.8M rows)",
    ("handwritten", 1_000_000): "8.3 CPU-s",
    ("gx", 1_000_000): "~39 CPU-s",
    ("floor", 1_000_000): "3.7-4.7 CPU-s",
}


def parse_size(text: str) -> int:
    """'1M' -> 1_000_000, '500k' -> 500_000, '1200' -> 1200."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmM]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r}")
    return int(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()])


def size_label(rows: int) -> str:
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    return f"{rows / 1_000:g}k" if rows % 1_000 == 0 else str(rows)


def input_file(rows: int, seed: int = 1000, folder: Path = SCALE) -> Path:
    """The cached customers CSV of `rows` rows for `seed`, generated (streaming) on first use."""
    path = folder / f"customers_{rows}_seed{seed}.csv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".csv.part")
        t0 = time.perf_counter()
        generate_input(rows, tmp, seed=seed)
        tmp.rename(path)  # a killed generation leaves no cached half-file
        print(f"generated {path.name} ({path.stat().st_size / GB:.2f} GB) in {time.perf_counter() - t0:.0f} s")
    return path


def _tree(pid: int):
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill_tree(pid: int) -> None:
    import psutil

    for p in reversed(_tree(pid)):
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def measure(cmd: list[str], env: dict[str, str], log: Path, ceiling_gb: float, min_free_gb: float) -> dict:
    """Run `cmd` to its end and measure its whole process tree (see the module docstring)."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        peak_tree = peak_one = 0
        oom = None
        while proc.poll() is None:
            total = 0
            for p in _tree(proc.pid):
                try:
                    rss = p.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                total += rss
                peak_one = max(peak_one, rss)
            peak_tree = max(peak_tree, total)
            free = psutil.virtual_memory().available
            if total > ceiling_gb * GB or free < min_free_gb * GB:
                why = "ceiling" if total > ceiling_gb * GB else f"machine down to {free / GB:.1f} GB free"
                oom = f"OOM at {total / GB:.1f} GB ({why})"
                _kill_tree(proc.pid)
                break
            time.sleep(0.1)
        rc = proc.wait()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # ru_maxrss of children: the largest waited-for descendant ever; if it grew, this run set it (KB)
    if after.ru_maxrss > before.ru_maxrss:
        peak_one = max(peak_one, after.ru_maxrss * 1024)
    user, sys_ = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    text = log.read_text(errors="replace")
    return {
        "rc": rc,
        "oom": oom,
        "wall_s": wall,
        "cpu_s": user + sys_,
        "user_s": user,
        "sys_s": sys_,
        "peak_tree_gb": max(peak_tree, peak_one) / GB,
        "peak_proc_gb": peak_one / GB,
        "tail": text[-2000:],
    }


def _job_env(args) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DQ_MASKING_KEY", "benchmark-only-key-0123456789abcdef")
    for name, value in (("DQ_CHUNK_MB", args.chunk_mb), ("DQ_WORKERS", args.workers), ("DQ_DASK_SCHEDULER", args.dask)):
        if value is not None:
            env[name] = str(value)
    return env


def run_ingest(src: Path, args, env: dict[str, str]) -> dict:
    """`dq-platform ingest` of `src` on a throw-away instance and warehouse: process start to published."""
    with throwaway_instance("scale", args.backend) as instance:
        home = Path(instance.root_directory)
        env = {**env, "DAGSTER_HOME": str(home), "DQ_WAREHOUSE_URI": str(home / "warehouse")}
        env["DQ_LANDING_URI"] = str(src.parent)
        cmd = [str(BIN / "dq-platform"), "ingest", "--dataset", "customers", str(src)]
        r = measure(cmd, env, home / "ingest.log", args.ceiling_gb, args.min_free_gb)
        m = re.search(r" run (\S+) (SUCCESS|FAILURE.*?) rows (\{.*\})", r["tail"])
        r["status"] = m.group(2) if m else "no summary line"
        rows = ast.literal_eval(m.group(3)) if m else {}
        r["rows"] = {"rows_in": rows.get("in"), "cleaned": rows.get("cleaned"), "quarantined": rows.get("quarantined")}
        r["ok"] = r["rc"] == 0 and not r["oom"] and r["status"] == "SUCCESS"
    return r


def run_peer(kind: str, src: Path, args) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"{kind}_", dir=SCALE))
    try:
        env = {**os.environ, "DQ_BENCH_FLOOR_WRITES": str(args.floor_writes)}
        r = measure(
            [sys.executable, str(PEERS), kind, str(src), str(out)], env, out / "log", args.ceiling_gb, args.min_free_gb
        )
        r["ok"] = r["rc"] == 0 and not r["oom"]
        r["rows"] = json.loads(r["tail"].strip().splitlines()[-1]) if r["ok"] else {}
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return r


def _median(results: list[dict]) -> dict:
    """Medians over repeats of the numbers; the first failed repeat's details if any failed."""
    bad = [r for r in results if not r["ok"]]
    if bad:
        return {**bad[0], "repeats": len(results)}
    keys = ("wall_s", "cpu_s", "user_s", "sys_s", "peak_tree_gb", "peak_proc_gb")
    return {**results[0], **{k: statistics.median(r[k] for r in results) for k in keys}, "repeats": len(results)}


def _fits(kind: str, rows: int, done: list[dict], args) -> str | None:
    """Why a peer is skipped at `rows` (None: run it), from its own memory per row at a smaller size."""
    if kind in ("ingest", "floor") or rows <= TRY_PEERS_UP_TO:
        return None
    import psutil

    known = [
        r for r in [*_history(), *done] if r["run"] == kind and r["rows"] < rows and r["result"].get("peak_tree_gb")
    ]
    if not known:
        return None
    ref = max(known, key=lambda r: r["rows"])  # the largest size measured, the newest of its runs
    if ref["result"].get("oom"):
        return f"skipped: {ref['result']['oom']} already at {size_label(ref['rows'])}"
    estimate = ref["result"]["peak_tree_gb"] * rows / ref["rows"]
    # what this machine can give it now (it is shared), within the ceiling
    free = psutil.virtual_memory().available / GB - args.min_free_gb
    if estimate > min(args.ceiling_gb, free):
        return (
            f"skipped: needs ~{estimate:.0f} GB (measured {ref['result']['peak_tree_gb']:.1f} GB "
            f"at {size_label(ref['rows'])}); ceiling {args.ceiling_gb:g} GB, {free:.0f} GB free now"
        )
    return None


def _history() -> list[dict]:
    """Earlier runs' results (.bench/scale/history.jsonl), oldest first: what a peer needed at a smaller size."""
    if not HISTORY.exists():
        return []
    return [json.loads(line) for line in HISTORY.read_text().splitlines() if line.strip()]


def _record(entry: dict) -> None:
    HISTORY.parent.mkdir(parents=True, exist_ok=True)
    kept = {**entry, "result": {k: v for k, v in entry["result"].items() if k != "tail"}, "at": time.time()}
    with open(HISTORY, "a") as f:
        f.write(json.dumps(kept, default=str) + "\n")


def bench(args) -> list[dict]:
    cores = len(os.sched_getaffinity(0))
    env = _job_env(args)
    done: list[dict] = []
    runs = ["ingest"] if args.sweep_chunk_mb else [r for r in RUNS if r in args.runs]
    for rows in args.sizes:
        src = input_file(rows, args.seed)
        for chunk_mb in args.sweep_chunk_mb or [args.chunk_mb]:
            run_env = {**env, "DQ_CHUNK_MB": str(chunk_mb)} if chunk_mb is not None else env
            for kind in runs:
                skip = _fits(kind, rows, done, args)
                if skip:
                    result = {"ok": False, "skipped": skip}
                else:
                    reps = []
                    for _ in range(args.repeat):
                        reps.append(run_ingest(src, args, run_env) if kind == "ingest" else run_peer(kind, src, args))
                        if not reps[-1]["ok"]:
                            break
                    result = _median(reps)
                    result["efficiency"] = result["cpu_s"] / (result["wall_s"] * cores) if result["wall_s"] else 0.0
                entry = {
                    "rows": rows,
                    "run": kind,
                    "chunk_mb": chunk_mb,
                    "workers": args.workers,
                    "dask": args.dask,
                    "seed": args.seed,
                    "cores": cores,
                    "load": os.getloadavg(),
                    "result": result,
                }
                done.append(entry)
                _record(entry)
                print(
                    f"  {size_label(rows)} {kind}{f' chunk {chunk_mb} MB' if chunk_mb else ''}: {_brief(result)}",
                    flush=True,
                )
    return done


def _brief(r: dict) -> str:
    if r.get("skipped"):
        return r["skipped"]
    if not r["ok"]:
        return r.get("oom") or f"FAILED (exit {r['rc']}, {r.get('status', '')}): {r['tail'][-300:]!r}"
    rows = dict(r["rows"])
    if "failing" in rows:  # GX: how many expectations failed and their unexpected rows, not each one
        failing = rows.pop("failing")
        rows["failing_expectations"], rows["unexpected"] = len(failing), sum(v or 0 for v in failing.values())
    return f"{r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} CPU-s, {r['peak_tree_gb']:.2f} GB, {rows}"


def _cells(r: dict, hand: dict | None) -> list[str]:
    if r.get("skipped") or not r["ok"]:
        if r.get("skipped"):
            return [r["skipped"], "", "", "", "", "", "", ""]
        why = r.get("oom") or f"failed (exit {r['rc']})"
        return [f"{why} after {r['wall_s']:.0f} s", f"{r['cpu_s']:.1f} until then", "", "", "", "", "", ""]
    ratio = f"{r['cpu_s'] / hand['cpu_s']:.2f}x" if hand and hand.get("ok") else "-"
    rows = r.get("rows") or {}
    cleaned = rows.get("cleaned")
    return [
        f"{r['wall_s']:.1f}",
        f"{r['cpu_s']:.1f} ({r['sys_s'] / r['cpu_s']:.0%} sys)" if r["cpu_s"] else "0",
        f"{r['peak_tree_gb']:.2f}",
        f"{r['peak_proc_gb']:.2f}",
        f"{r['efficiency']:.2f}",
        ratio,
        f"{cleaned:,}" if isinstance(cleaned, int) else "-",
        f"{r['repeats']}",
    ]


def table(done: list[dict]) -> str:
    """The markdown table, the issue's "today" numbers beside each row."""
    head = ["rows", "run", "chunk MB", "wall s", "CPU s", "peak RSS tree GB", "largest proc GB"]
    head += ["par. eff.", "CPU / handwritten", "cleaned rows", "repeats", "today (issue #18)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in done:
        hand = next((x["result"] for x in done if x["rows"] == d["rows"] and x["run"] == "handwritten"), None)
        chunk = str(d["chunk_mb"]) if d["chunk_mb"] is not None else "default"
        cells = [size_label(d["rows"]), d["run"], chunk, *_cells(d["result"], hand)]
        cells.append(TODAY.get((d["run"], d["rows"]), ""))
        lines.append("| " + " | ".join(cells) + " |")
    cores = done[0]["cores"] if done else 0
    loads = [d["load"][0] for d in done] or [0.0]
    lines.append(
        f"\n{cores} cores; parallel efficiency = CPU / (wall x {cores}), meaningful on a quiet machine only "
        f"(load average during these runs {min(loads):.1f}-{max(loads):.1f}); issue #18 reference on the other "
        "sizes: ingest 2M 4.6 GB, 4M 8.3 GB (2.0 KB/row in one process)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--sizes", type=lambda s: [parse_size(x) for x in s.split(",")], default=[1_000_000, 5_000_000, 20_000_000]
    )
    p.add_argument("--runs", type=lambda s: s.split(","), default=list(RUNS), help=f"subset of {','.join(RUNS)}")
    p.add_argument("--chunk-mb", type=int, help="DQ_CHUNK_MB for the job: source bytes per chunk")
    p.add_argument("--workers", type=int, help="DQ_WORKERS for the job: worker processes")
    p.add_argument("--dask", metavar="ADDRESS", help="DQ_DASK_SCHEDULER for the job, e.g. tcp://127.0.0.1:8786")
    p.add_argument(
        "--sweep-chunk-mb", type=lambda s: [int(x) for x in s.split(",")], help="the job alone, per chunk size"
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per measurement; medians are reported")
    p.add_argument("--seed", type=int, default=1000, help="generator seed (1000: the 1M benchmark file's)")
    p.add_argument(
        "--backend", choices=["sqlite", "postgres"], default="sqlite", help="the throw-away instance's storage"
    )
    p.add_argument("--floor-writes", type=int, default=3, help="Delta writes of the floor (default 3 layers)")
    p.add_argument("--ceiling-gb", type=float, default=20.0, help="kill a process tree above this RSS")
    p.add_argument("--min-free-gb", type=float, default=1.5, help="kill it when the machine has less available")
    p.add_argument("--json", type=Path, help="write every result here too")
    p.add_argument("--clean", action="store_true", help="delete the cached inputs afterwards (default: kept)")
    args = p.parse_args(argv)
    print(f"scale benchmark: sizes {', '.join(map(size_label, args.sizes))}; load {os.getloadavg()[0]:.2f}", flush=True)
    done = bench(args)
    print()
    print(table(done))
    payload = json.dumps(done, indent=2, default=str)
    SCALE.mkdir(parents=True, exist_ok=True)
    (SCALE / "last.json").write_text(payload)
    if args.json:
        args.json.write_text(payload)
    if args.clean:
        for f in SCALE.glob("customers_*.csv"):
            f.unlink()


if __name__ == "__main__":
    main()
