"""Small files: the fixed cost of one file's run, side by side with an earlier commit (issue #20).

    python bench/small.py                    # this tree vs where it left main: 5 single files, 50 at once
    python bench/small.py --runs 5 --files 50 --prev <sha>   # or --prev none (this tree only)
    python bench/benchmark.py --small ...    # the same

For each tree (the earlier commit is checked out with `git worktree add --detach` into a temporary
folder and run with this venv's packages, PYTHONPATH pointing at it), on a fresh project folder
(own DAGSTER_HOME, warehouse, landing zone, the tree's dagster.yaml):

- one 1,000-row customers file at a time: `dq-platform ingest FILE`, process start to exit (the
  file published, its report written), wall and CPU (user + system, from the child's rusage); one
  warm-up run first (it creates the SQLite schemas), then `--runs` measured, median. The trees
  alternate run by run, so drift on this shared machine hits both alike;
- 50 files landing at once: `dq-platform ingest <folder>` (one process, a run per file), total time;
- the breakdown: one more run in-process with timers around each phase (imports, definitions, GX
  import and gate, SQLite event writes, the report), the run's Dagster events by type, the imports
  by package (`python -X importtime`).

Targets: <= 3 s per 1,000-row file from process start to published; 50 files <= 60 s.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench" / "small"
ROWS = 1000
KEY = "benchmark-only-key-0123456789abcdef"
CLI = "import sys; from dq_platform.cli import main; sys.exit(main())"


def generate(folder: Path, count: int, seed: int) -> list[Path]:
    """`count` distinct 1,000-row customers files (4% bad rows), as the demo writes them."""
    import pyarrow.csv as pacsv

    from dq_platform.contract import load_contracts
    from dq_platform.demo.sample_data import generate as sample

    contract = {c.name: c for c in load_contracts()}["customers"]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        path = folder / f"customers_small_{seed}_{i:03d}.csv"
        if not path.exists():
            table = sample(contract, rows=ROWS, seed=seed + i, bad_fraction=0.04, id_offset=i * ROWS).table
            pacsv.write_csv(table, str(path))
        out.append(path)
    return out


def _env(tree: Path, project: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not (k.startswith("DQ_") or k.startswith("DAGSTER_"))}
    return {**env, "PYTHONPATH": str(tree), "DQ_PROJECT_DIR": str(project), "DQ_MASKING_KEY": KEY}


def project(tree: Path, folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "landing" / "customers").mkdir(parents=True)
    shutil.copy(tree / "dagster.yaml", folder / "dagster.yaml")
    return folder


def run_child(args: list[str], tree: Path, proj: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one child process (CPU from RUSAGE_CHILDREN before/after)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=proj, env=_env(tree, proj), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {proj}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return wall, cpu, proc.stdout


def ingest(tree: Path, proj: Path, target: Path) -> tuple[float, float]:
    wall, cpu, out = run_child([sys.executable, "-c", CLI, "ingest", str(target)], tree, proj)
    if "SUCCESS" not in out:
        raise SystemExit(f"ingest of {target} did not succeed: {out[-1000:]}")
    return wall, cpu


def landed(files: list[Path], proj: Path) -> list[Path]:
    out = []
    for f in files:
        dst = proj / "landing" / "customers" / f.name
        shutil.copy(f, dst)
        out.append(dst)
    return out


def breakdown(tree: Path, proj: Path, file: Path) -> dict:
    """One more run in-process with phase timers, and one under -X importtime (imports by package)."""
    _, _, out = run_child([sys.executable, __file__, "--phases", "ingest", str(file)], tree, proj)
    phases = json.loads(out.strip().splitlines()[-1])
    args = [sys.executable, "-X", "importtime", "-c", CLI, "ingest", "--force", str(file)]
    proc = subprocess.run(args, cwd=proj, env=_env(tree, proj), capture_output=True, text=True)
    by_package: dict[str, float] = collections.Counter()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = line.removeprefix("import time:").split("|")
            try:
                self_us = int(parts[0])
            except ValueError:
                continue
            by_package[parts[2].strip().split(".")[0]] += self_us / 1e6
    phases["imports_by_package"] = dict(sorted(by_package.items(), key=lambda kv: -kv[1])[:14])
    return phases


def phases_main(argv: list[str]) -> None:
    """In this process: `dq-platform ingest ...` with timers around each phase (any tree's functions)."""
    import importlib

    t_start = time.perf_counter()
    acc: dict[str, float] = collections.defaultdict(float)
    cnt: collections.Counter = collections.Counter()

    def wrap(owner, attr: str, label: str) -> None:
        if isinstance(owner, str):
            try:
                owner = importlib.import_module(owner)
            except ImportError:
                return
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
            if owner is None:
                return
        fn = getattr(owner, name, None)
        if fn is None:
            return

        def timed_fn(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc[label] += time.perf_counter() - t
                cnt[label] += 1

        setattr(owner, name, timed_fn)

    def timed_import(module: str, label: str):
        t = time.perf_counter()
        mod = importlib.import_module(module)
        acc[label] += time.perf_counter() - t
        return mod

    cli = timed_import("dq_platform.cli", "import dq_platform.cli")
    dg = timed_import("dagster", "import dagster")
    try:  # where a file's run lives: defs/file_runs.py (ops/ingest.py in earlier commits)
        runs = timed_import("dq_platform.defs.file_runs", "import file runs (defs, io)")
    except ImportError:
        runs = timed_import("dq_platform.ops.ingest", "import file runs (defs, io)")
    timed_import("dq_platform.definitions", "import definitions (builds defs)")
    from dagster._core.storage.event_log.sqlite import sqlite_event_log

    wrap(sqlite_event_log, "SqliteEventLogStorage.store_event", "SQLite event writes")
    wrap("dq_platform.definitions", "build_definitions", "build definitions again")
    wrap("dq_platform.engine.gx_gate", "_gx_context", "GX import + context (prewarm thread)")
    wrap("dq_platform.engine.gx_gate", "run_gx", "GX gate (waits for the import)")
    wrap("dq_platform.reports.run_report", "write_reports", "run report (all files)")
    wrap("dq_platform.reports.html", "render", "report HTML render")
    wrap(dg, "execute_job", "Dagster run (execute_job)")
    runs.dg.execute_job = dg.execute_job
    t = time.perf_counter()
    rc = cli.main(argv)
    acc["cli main"] = time.perf_counter() - t
    acc["process (after interpreter start)"] = time.perf_counter() - t_start
    instance = dg.DagsterInstance.get()
    run = instance.get_runs(limit=1)[0]
    records = instance.get_records_for_run(run.run_id).records
    types = collections.Counter(
        r.event_log_entry.dagster_event.event_type_value if r.event_log_entry.dagster_event else "LOG" for r in records
    )
    steps: dict[str, dict] = {}
    for r in records:
        ev = r.event_log_entry.dagster_event
        if ev is not None and ev.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            steps.setdefault(ev.step_key, {})[ev.event_type_value] = r.event_log_entry.timestamp
    t = os.times()
    print(
        json.dumps(
            {
                "rc": rc,
                "phases": acc,
                "counts": cnt,
                "events": len(records),
                "event_types": types,
                "steps": {
                    k: v.get("STEP_SUCCESS", v.get("STEP_FAILURE", 0)) - v["STEP_START"] for k, v in steps.items()
                },
                "cpu": t.user + t.system,
            }
        )
    )


def checkout(sha: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="prev-", dir="/tmp"))
    folder.rmdir()
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), sha], check=True)
    return folder


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench(trees: dict[str, Path], runs: int, files: int) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    singles = generate(WORK / "input" / "single", runs + 2, seed=100)
    many = generate(WORK / "input" / "many", files, seed=500)
    res: dict[str, dict] = {label: {"wall": [], "cpu": []} for label in trees}
    projects = {label: project(tree, WORK / label.replace(" ", "_") / "single") for label, tree in trees.items()}
    for label, tree in trees.items():  # PYTHONPATH must win over the venv's editable install of this tree
        _, _, where = run_child([sys.executable, "-c", "import dq_platform; print(dq_platform.__file__)"], tree, WORK)
        if not where.strip().startswith(str(tree)):
            raise SystemExit(f"{label}: dq_platform imported from {where.strip()}, not {tree}")
    for label, tree in trees.items():  # warm-up: the SQLite schemas are created once per instance
        ingest(tree, projects[label], landed(singles[:1], projects[label])[0])
    for i in range(runs):
        for label, tree in trees.items():
            wall, cpu = ingest(tree, projects[label], landed([singles[1 + i]], projects[label])[0])
            res[label]["wall"].append(wall)
            res[label]["cpu"].append(cpu)
            print(f"  {label}: file {i + 1}/{runs} {wall:.2f} s wall {cpu:.2f} CPU-s", flush=True)
    for label, tree in trees.items():
        res[label]["breakdown"] = breakdown(tree, projects[label], landed([singles[-1]], projects[label])[0])
    for label, tree in trees.items():
        proj = project(tree, WORK / label.replace(" ", "_") / "many")
        landed(many, proj)
        wall, cpu = ingest(tree, proj, proj / "landing" / "customers")
        res[label]["many"] = {"wall": wall, "cpu": cpu}
        print(f"  {label}: {files} files at once {wall:.1f} s wall {cpu:.1f} CPU-s", flush=True)
    return res


def report(res: dict, runs: int, files: int) -> str:
    labels = list(res)
    head = f"{'':<44}" + "".join(f"{lb:>16}" for lb in labels) + (f"{'ratio':>9}" if len(labels) == 2 else "")

    def row(name: str, values: list[float], fmt: str = "{:>16.2f}") -> str:
        ratio = f"{values[1] / values[0]:>9.2f}" if len(values) == 2 and values[0] else ""
        return f"{name:<44}" + "".join(fmt.format(v) for v in values) + ratio

    out = [f"\n== one {ROWS:,}-row customers file, process start to published (median of {runs})", head]
    out.append(row("wall s", [med(res[lb]["wall"]) for lb in labels]))
    out.append(row("CPU s (user + system)", [med(res[lb]["cpu"]) for lb in labels]))
    out.append(f"\n== {files} files landing at once: dq-platform ingest <folder> (one process, a run per file)")
    out.append(head)
    out.append(row("total wall s", [res[lb]["many"]["wall"] for lb in labels]))
    out.append(row("total CPU s", [res[lb]["many"]["cpu"] for lb in labels]))
    out.append(row("wall s per file", [res[lb]["many"]["wall"] / files for lb in labels]))
    out.append("\n== where one file's time goes (one in-process run with timers; wall s)")
    out.append(head)
    names: list[str] = []
    for lb in labels:
        names += [n for n in res[lb]["breakdown"]["phases"] if n not in names]
    for n in names:
        out.append(row(n, [res[lb]["breakdown"]["phases"].get(n, 0.0) for lb in labels]))
    out.append(row("CPU s of that process", [res[lb]["breakdown"]["cpu"] for lb in labels]))
    out.append(row("Dagster events stored per run", [res[lb]["breakdown"]["events"] for lb in labels], "{:>16.0f}"))
    out.append(row("Dagster steps per run", [len(res[lb]["breakdown"]["steps"]) for lb in labels], "{:>16.0f}"))
    out.append(
        row(
            "  SQLite event writes (calls)",
            [res[lb]["breakdown"]["counts"].get("SQLite event writes", 0) for lb in labels],
            "{:>16.0f}",
        )
    )
    out.append("\n== imports by package, self seconds under -X importtime (inflated by the tracing)")
    packages: list[str] = []
    for lb in labels:
        packages += [p for p in res[lb]["breakdown"]["imports_by_package"] if p not in packages]
    for p in packages:
        out.append(row(p, [res[lb]["breakdown"]["imports_by_package"].get(p, 0.0) for lb in labels]))
    last = labels[-1]
    one, many = med(res[last]["wall"]), res[last]["many"]
    # 50 files: the measured folder's first file (a cold process) plus the rest at its per-file pace
    per_file = (many["wall"] - one) / max(files - 1, 1)
    fifty = many["wall"] if files == 50 else one + 49 * per_file
    out.append(
        f"\ntargets ({last}): one file <= 3 s: {one:.2f} s wall ({'met' if one <= 3 else 'NOT met'}); "
        f"50 files <= 60 s: {fifty:.1f} s{'' if files == 50 else f' (from {files} files: {per_file:.2f} s per warm file)'} "
        f"({'met' if fifty <= 60 else 'NOT met'}) - wall on this machine as loaded now; CPU above"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--phases"]:
        phases_main(argv[1:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="single files measured per tree (median), default 5")
    p.add_argument("--files", type=int, default=50, help="files landing at once, default 50")
    p.add_argument(
        "--prev",
        default="merge-base",
        help="commit to compare with (default: where this branch left main; 'none': this tree only)",
    )
    args = p.parse_args(argv)
    trees: dict[str, Path] = {}
    prev = None
    if args.prev != "none":
        git = ["git", "-C", str(ROOT)]
        ask = ["merge-base", "HEAD", "main"] if args.prev == "merge-base" else ["rev-parse", args.prev]
        sha = subprocess.run(git + ask, capture_output=True, text=True, check=True).stdout.strip()
        prev = checkout(sha)
        trees[f"prev {sha[:8]}"] = prev
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=8", "HEAD"], capture_output=True, text=True)
    trees[f"this {head.stdout.strip() or 'tree'}"] = ROOT
    try:
        res = bench(trees, args.runs, args.files)
        print(report(res, args.runs, args.files), flush=True)
        (WORK / "results.json").write_text(json.dumps(res, indent=2, default=str))
    finally:
        if prev is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(prev)], check=False)


if __name__ == "__main__":
    main()
