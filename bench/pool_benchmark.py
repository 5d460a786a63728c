"""Benchmark of where chunk tasks run (dq_platform/chunks/pool.py): start-up and per-task overhead.

    python bench/pool_benchmark.py                      # all of it (~1-2 min on 2 cores)
    python bench/pool_benchmark.py --cpu-tasks 4 --tiny-tasks 500

1. Start-up, each in a fresh interpreter that has imported pandas + pyarrow (as a run process
   has): a local pool of 2 workers started by fork, forkserver
   (with pandas/pyarrow preloaded) and spawn, until both workers answered a task that needs
   pandas + pyarrow (what a chunk task imports); connecting a Dask client to a running cluster;
   starting that cluster (scheduler + 2 workers on loopback). Wall and CPU seconds (this process
   and every process it started).
2. Per task, side by side in one run: in-process, local processes (2, warm pool) and Dask on
   loopback (2 single-threaded workers, warm client): `--tiny-tasks` tasks that do nothing, and
   `--cpu-tasks` tasks of ~0.3 CPU-s each. Wall, CPU seconds of every process involved, speed-up
   and CPU ratio against in-process. Each figure is the fastest of 3 runs (a shared machine).
Ports: the Dask cluster takes free ports from DQ_TEST_PORT_RANGE when set (dq_platform_tests/dask_cluster.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402 - a dependency of distributed

from dq_platform.chunks import pool  # noqa: E402
from dq_platform_tests import pool_tasks  # noqa: E402
from dq_platform_tests.dask_cluster import DaskCluster  # noqa: E402


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and all their descendants (live or reaped)."""
    total, seen = 0.0, set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
    return total


STARTUP = """
import os, sys, time, json, multiprocessing, psutil
from concurrent.futures import ProcessPoolExecutor
sys.path.insert(0, {root!r})
from dq_platform_tests.pool_tasks import pid_after
def heavy(_):
    import pandas, pyarrow  # what a chunk task needs
    return os.getpid()
if __name__ == "__main__":
    import pandas, pyarrow  # the run process has them already: fork copies them, spawn imports them again
    me = psutil.Process()
    cpu0 = sum(me.cpu_times()[:2])
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context({method!r})
    if {method!r} == "forkserver":
        ctx.set_forkserver_preload(["pandas", "pyarrow"])
    with ProcessPoolExecutor(2, mp_context=ctx) as ex:
        pids = set(ex.map(heavy, range(8)))
        wall = time.perf_counter() - t0
        cpu = sum(t.user + t.system for t in [me.cpu_times()] + [c.cpu_times() for c in me.children(recursive=True)])
        cpu -= cpu0
    print(json.dumps({{"wall": wall, "cpu": cpu, "workers": len(pids)}}))
"""


def local_startup(method: str) -> dict:
    """A fresh interpreter that starts a 2-worker pool and waits for both to import pandas + pyarrow.
    Its own interpreter start-up is not counted (t0 is after `import psutil`)."""
    code = STARTUP.format(root=str(ROOT), method=method)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        out = subprocess.run([sys.executable, f.name], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    return json.loads(out.strip().splitlines()[-1])


def timed(run, pids: list[int]) -> tuple[float, float]:
    """Wall and CPU seconds (this process + the pids' trees) of run(): the fastest of REPEAT runs
    (the machine is shared; the fastest run is the one least disturbed)."""
    best = None
    for _ in range(REPEAT):
        before = cpu_of(pids)
        t0 = time.perf_counter()
        run()
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, cpu_of(pids) - before)
    return best


REPEAT = 3


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b >= 0.005 else "-"


def calibrate(target: float = 0.3) -> int:
    n = 1_000_000
    t0 = time.process_time()
    pool_tasks.burn(n)
    return int(n * target / (time.process_time() - t0))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu-tasks", type=int, default=8)
    ap.add_argument("--tiny-tasks", type=int, default=2000)
    args = ap.parse_args(argv)

    print("## Start-up (2 workers ready, each having imported pandas + pyarrow)\n")
    print("| mode | wall s | CPU s |\n|---|---:|---:|")
    for method in ("fork", "forkserver", "spawn"):
        r = min((local_startup(method) for _ in range(REPEAT)), key=lambda r: r["wall"])
        print(
            f"| local processes, {method}{' + preload' if method == 'forkserver' else ''} "
            f"| {r['wall']:.2f} | {r['cpu']:.2f} |"
        )

    tmp = Path(tempfile.mkdtemp(prefix="pool-bench-"))
    t0, c0 = time.perf_counter(), cpu_of([os.getpid()])
    cluster = DaskCluster(tmp)
    cluster.wait_for_workers(2)
    cluster_pids = [cluster.scheduler.pid, *(w.pid for w in cluster.workers.values())]
    start_wall = time.perf_counter() - t0
    start_cpu = cpu_of([os.getpid(), *cluster_pids]) - c0
    try:
        os.environ["DQ_DASK_SCHEDULER"] = cluster.address
        t0 = time.perf_counter()
        pool.workers()  # connects the platform's client
        connect = time.perf_counter() - t0
        print(f"| Dask: start scheduler + 2 workers (loopback) | {start_wall:.2f} | {start_cpu:.2f} |")
        print(f"| Dask: connect a client to a running cluster | {connect:.2f} | - |")

        iterations = calibrate()
        cases = [
            ("tiny", pool_tasks.tiny, list(range(args.tiny_tasks))),
            ("~0.3 CPU-s", pool_tasks.burn, [iterations] * args.cpu_tasks),
        ]
        print("\n## Per task (warm pool / client; CPU of every process involved)\n")
        print("| tasks | mode | wall s | CPU s | wall ms/task | CPU ms/task | speed-up | CPU ratio |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for label, fn, items in cases:
            run = functools.partial(pool.run_tasks, fn, items, what="bench")
            rows = []
            os.environ.pop("DQ_DASK_SCHEDULER", None)
            os.environ["DQ_WORKERS"] = "1"
            rows.append(("in-process", *timed(run, [os.getpid()])))
            os.environ["DQ_WORKERS"] = "2"
            pool.run_tasks(pool_tasks.tiny, [0, 1, 2, 3], what="warm-up")
            rows.append((pool.where(), *timed(run, [os.getpid()])))
            os.environ["DQ_DASK_SCHEDULER"] = cluster.address
            pool.run_tasks(pool_tasks.tiny, [0, 1, 2, 3], what="warm-up")
            rows.append(("dask (2 workers, loopback)", *timed(run, [os.getpid(), *cluster_pids])))
            base_wall, base_cpu = rows[0][1], rows[0][2]
            for mode, wall, cpu in rows:
                print(
                    f"| {len(items)} {label} | {mode} | {wall:.2f} | {cpu:.2f} | {1000 * wall / len(items):.2f} "
                    f"| {1000 * cpu / len(items):.2f} | {ratio(base_wall, wall)} | {ratio(cpu, base_cpu)} |"
                )
    finally:
        pool.shutdown()
        cluster.close()


if __name__ == "__main__":
    main()
