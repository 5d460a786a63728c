"""Small files: the fixed cost of one file's run, side by side with an earlier commit (issue #20).

    python bench/small.py                    # this tree vs where it left main: 3 single files, 50 at once
    python bench/small.py --runs 5 --files 50 --prev <sha>   # or --prev none (this tree only)
    python bench/small.py --no-daemon        # the CLI part only
    python bench/benchmark.py --small ...    # the same

For each tree (the earlier commit is checked out with `git worktree add --detach` into a temporary
folder and run with this venv's packages, PYTHONPATH pointing at it), on a fresh project folder
(own DAGSTER_HOME, warehouse, landing zone, the tree's dagster.yaml):

- one 1,000-row customers file at a time: `dq-platform ingest FILE`, process start to exit (the
  file published, its report written), wall and CPU (user + system, from the child's rusage); one
  warm-up run first (it creates the SQLite schemas), then `--runs` measured, median. The trees
  alternate run by run, so drift on this shared machine hits both alike;
- 50 files landing at once: `dq-platform ingest <folder>` (one command, a run per file; since issue #20's
  fourth round its small files run on every core), total time;
- the breakdown: one more run in-process with timers around each phase (imports, definitions, GX
  import and gate, SQLite event writes, the report), the run's Dagster events by type, the imports
  by package (`python -X importtime`);
- through the daemon (`--no-daemon` skips it), as a user runs the platform unattended: on its own
  fresh project folder per tree, `dagster-daemon run` on the tree's workspace.yaml (the code server
  it starts launches each run in a process of its own), DQ_SENSOR_INTERVAL_SECONDS short
  (`--sensor-interval`). One warm-up file, then `--runs` files one at a time copied into the landing
  folder: landing to published (the run ended SUCCESS, seen by polling the instance's run storage),
  split into the sensor's latency (a file written just now waits one tick for size and mtime to
  settle, by design), queue
  + launch, and the run's own start-to-end; then `--files` files copied in at once, total time until
  every file's run ended. CPU: of the daemon's whole process tree over the window (psutil: each
  live process's user + system + reaped children's, at the window's ends, after the run processes
  exited), split into the run processes (the ones that were not there at its start) and the
  resident daemon + code server (sensor ticks, queue, launch, reports). The trees run one after the
  other here (two stacks at once would load each other), so compare CPU more than wall.

Targets: <= 3 s per 1,000-row file from process start to published; 50 files <= 60 s.
"""

from __future__ import annotations

import argparse
import collections
import datetime
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
    wrap("dq_platform.engine.gx_gate", "_gx", "GX import (on first use)")
    wrap("dq_platform.engine.gx_gate", "gx_partial", "GX gate (with its import)")
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


def bench(trees: dict[str, Path], runs: int, files: int, interval: int | None, daemon_files: int | None = None) -> dict:
    """The CLI part with the trees alternating run by run, then (interval set) each tree's daemon in turn."""
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
    if interval is not None:
        for label, tree in trees.items():
            print(f"  {label}: through dagster-daemon ...", flush=True)
            folder = WORK / label.replace(" ", "_") / "daemon"
            res[label]["daemon"] = daemon_bench(tree, folder, singles[: runs + 1], many[:daemon_files], interval)
    return res


# -- through the daemon ------------------------------------------------------------------------------

JOB, MASKED = "customers_pipeline", "masked_customers"


class StackCpu:
    """CPU of the daemon's process tree, sampled every 0.2 s with psutil in a thread.

    The tree's CPU at an instant: each live process's user + system plus its reaped children's (a run
    process's CPU passes to its code server when it exits, a code server's to the daemon). The run
    processes' share: the live ones' (children of a code server, started by multiprocessing's spawn,
    with what they start) plus every code server's reaped children, the last value seen of each server
    (the daemon replaces its code server every 60 s, Dagster's workspace reload; a server's own CPU,
    loading the definitions and evaluating sensors, counts as the stack's)."""

    def __init__(self, root: int):
        import threading

        self.root, self.total, self.runs, self.running = root, 0.0, 0.0, 0
        self._servers: dict = {}  # code server -> its reaped children's CPU, last seen
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._cmd: dict = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def sample(self) -> None:
        import psutil

        try:
            procs = [psutil.Process(self.root), *psutil.Process(self.root).children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        snap = {}
        for p in procs:
            try:
                t, key = p.cpu_times(), (p.pid, p.create_time())
                if key not in self._cmd:
                    self._cmd[key] = " ".join(p.cmdline())
                snap[p.pid] = (key, p.ppid(), t.user + t.system, t.children_user + t.children_system)
            except psutil.NoSuchProcess:
                continue
        children = collections.defaultdict(list)
        for pid, (_, ppid, _, _) in snap.items():
            children[ppid].append(pid)
        live, running = 0.0, 0
        for pid, (key, ppid, _, _) in snap.items():
            parent = snap.get(ppid)
            if "spawn_main" in self._cmd[key] and parent and "api grpc" in self._cmd[parent[0]]:
                running += 1
                family = [pid]
                while family:
                    p = family.pop()
                    live += snap[p][2] + snap[p][3]
                    family += children[p]
        with self._lock:
            for key, _, _, reaped in snap.values():
                if "api grpc" in self._cmd[key]:
                    self._servers[key] = reaped
            self.total = sum(own + reaped for _, _, own, reaped in snap.values())
            self.runs, self.running = live + sum(self._servers.values()), running

    def now(self) -> tuple[float, float]:
        """(the whole tree's CPU s, the run processes' CPU s) so far."""
        self.sample()
        with self._lock:
            return self.total, self.runs

    def settled(self, timeout: float = 30.0) -> tuple[float, float]:
        """`now()` once no run process is left (their CPU has passed to the code server), or at timeout."""
        deadline = time.monotonic() + timeout
        while True:
            cpu = self.now()
            if not self.running or time.monotonic() > deadline:
                return cpu
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _ts(value: datetime.datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).timestamp()


def _ended(instance, names: list[str], since: float) -> dict[str, tuple[str, object]]:
    """file name -> (status, run record) of the files whose run ended: the pipeline's runs created since
    `since` whose tags name the file (partition key, source URI), so a run that carries several files
    counts for each. Once all those runs ended, a file they do not name is published when its masked
    partition is (a batch run that tags a range)."""
    import dagster as dg

    recs = [
        r
        for r in instance.get_run_records(filters=dg.RunsFilter(job_name=JOB), limit=1000)
        if _ts(r.create_timestamp) >= since - 1
    ]
    ended = {}
    for rec in recs:
        if rec.dagster_run.is_finished:
            text = " ".join(rec.dagster_run.tags.values())
            for name in names:
                if name in text and name not in ended:
                    ended[name] = (rec.dagster_run.status.value, rec)
    missing = [n for n in names if n not in ended]
    if missing and recs and all(r.dagster_run.is_finished for r in recs):
        keys = instance.get_materialized_partitions(dg.AssetKey(MASKED))
        ended.update({n: ("SUCCESS", None) for n in missing if any(k.startswith(f"{n}@") for k in keys)})
    return ended


def _wait_files(instance, daemon, names: list[str], since: float, timeout: float, poll: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        ended = _ended(instance, names, since)
        if len(ended) == len(names):
            return ended
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited (rc {daemon.returncode}); see its log")
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(names) - len(ended)} of {len(names)} files' runs not ended in {timeout:.0f} s")
        time.sleep(poll)


def _report_written(instance, run_id: str, timeout: float = 90.0) -> float | None:
    """When the run's HTML report tag appeared (the daemon's report sensor writes it after the run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and "dq/report/html" in run.tags:
            return time.time()
        time.sleep(0.25)
    return None


def start_daemon(tree: Path, proj: Path, interval: int, log: Path) -> tuple[subprocess.Popen, str]:
    """`dagster-daemon run` on the tree's workspace in its own session (stop_daemon stops the group),
    on the instance `dq-platform` renders for the project (the tree's dagster.yaml)."""
    env = {**_env(tree, proj), "DQ_SENSOR_INTERVAL_SECONDS": str(interval)}
    # the instance's tables created before the daemon and its code server race to create them (dq-platform ui does too)
    render = (
        "import dagster as dg; from dq_platform import settings; home = settings.ensure_dagster_home(); "
        "dg.DagsterInstance.from_config(str(home)).dispose(); print(home)"
    )
    home = subprocess.run([sys.executable, "-c", render], cwd=proj, env=env, capture_output=True, text=True)
    if home.returncode != 0:
        raise SystemExit(f"instance of {proj}: {home.stderr[-2000:]}")
    env["DAGSTER_HOME"] = home.stdout.strip().splitlines()[-1]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(tree / "workspace.yaml")],
            cwd=proj,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, env["DAGSTER_HOME"]


def stop_daemon(proc: subprocess.Popen) -> None:
    """SIGTERM to the daemon's process group (code servers, runs), then SIGKILL to whatever is left."""
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


IDLE_S = 60  # long enough to hold one of the daemon's code-server reloads (every 60 s)


def daemon_bench(tree: Path, folder: Path, singles: list[Path], many: list[Path], interval: int) -> dict:
    """One tree's stack: a warm-up file, idle CPU, single files one at a time, then `many` at once."""
    import dagster as dg

    proj = project(tree, folder)
    log = folder.parent / f"{folder.name}.log"
    daemon, home = start_daemon(tree, proj, interval, log)
    cpu = StackCpu(daemon.pid)
    out: dict = {"sensor_interval_s": interval, "log": str(log), "single": collections.defaultdict(list)}
    try:
        with dg.DagsterInstance.from_config(home) as instance:
            t0 = time.time()
            (warm,) = landed(singles[:1], proj)
            ((_, rec),) = _wait_files(instance, daemon, [warm.name], t0, timeout=900, poll=0.5).values()
            if rec is not None:
                _report_written(instance, rec.dagster_run.run_id)
            idle0, _ = cpu.settled()
            time.sleep(IDLE_S)
            out["idle_cpu_per_min"] = (cpu.now()[0] - idle0) * 60 / IDLE_S
            for file in singles[1:]:
                total0, runs0 = cpu.now()
                t0 = time.time()
                (dst,) = landed([file], proj)
                status, rec = _wait_files(instance, daemon, [dst.name], t0, timeout=900, poll=0.25)[dst.name]
                seen = time.time()
                report = _report_written(instance, rec.dagster_run.run_id) if rec is not None else None
                total1, runs1 = cpu.settled()
                nan = float("nan")
                created = _ts(rec.create_timestamp) if rec else nan
                start, end = (rec.start_time or nan, rec.end_time or nan) if rec else (nan, nan)
                s = out["single"]
                s["status"].append(status)
                s["published"].append(seen - t0)
                s["sensor"].append(created - t0)
                s["queue"].append(start - created)
                s["run"].append(end - start)
                s["report"].append(report - t0 if report else nan)
                s["cpu"].append(total1 - total0)
                s["run_cpu"].append(runs1 - runs0)
                print(
                    f"  daemon: file {len(s['published'])}/{len(singles) - 1} {status}: landing to published "
                    f"{seen - t0:.1f} s (run {end - start:.1f} s); stack {total1 - total0:.1f} CPU-s, "
                    f"run process {runs1 - runs0:.1f}",
                    flush=True,
                )
            total0, runs0 = cpu.now()
            t0 = time.time()
            dsts = landed(many, proj)
            ended = _wait_files(instance, daemon, [d.name for d in dsts], t0, timeout=120 + 60 * len(many), poll=1.0)
            wall = time.time() - t0
            total1, runs1 = cpu.settled()
            statuses = collections.Counter(status for status, _ in ended.values())
            after = datetime.datetime.fromtimestamp(t0 - 1, tz=datetime.UTC)
            runs = len(instance.get_run_ids(filters=dg.RunsFilter(job_name=JOB, created_after=after)))
            out["many"] = {"wall": wall, "cpu": total1 - total0, "run_cpu": runs1 - runs0, "runs": runs, **statuses}
            print(
                f"  daemon: {len(many)} files at once {wall:.1f} s, {dict(statuses)}, stack {total1 - total0:.1f} "
                f"CPU-s, run processes {runs1 - runs0:.1f}",
                flush=True,
            )
    finally:
        cpu.stop()
        stop_daemon(daemon)
    out["single"] = dict(out["single"])
    return out


def daemon_report(res: dict, row, head: str, runs: int, files: int) -> list[str]:
    labels = list(res)
    interval = res[labels[0]]["sensor_interval_s"]
    single = {lb: res[lb]["single"] for lb in labels}
    out = [
        f"\n== one {ROWS:,}-row file through dagster-daemon, landing to published (median of {runs}; "
        f"sensor every {interval} s, DQ_SENSOR_INTERVAL_SECONDS; a fresh file waits one tick for size and mtime to settle)",
        head,
    ]
    for key, name in (
        ("published", "landing to published wall s (run SUCCESS)"),
        ("sensor", "  sensor: landing to run created s"),
        ("queue", "  queue + launch: created to run start s"),
        ("run", "  daemon-launched run: start to end s"),
        ("report", "landing to report written s (report sensor)"),
        ("cpu", "CPU s of the stack over that window"),
        ("run_cpu", "  run process (and its children)"),
    ):
        out.append(row(name, [med(single[lb][key]) for lb in labels]))
    out.append(row("  daemon + code servers", [med(single[lb]["cpu"]) - med(single[lb]["run_cpu"]) for lb in labels]))
    out.append(row("stack CPU s per minute, idle (no files)", [res[lb]["idle_cpu_per_min"] for lb in labels]))
    many = {lb: res[lb]["many"] for lb in labels}
    out += [f"\n== {files} files landing at once through dagster-daemon (until every file's run ended)", head]
    out.append(row("total wall s", [many[lb]["wall"] for lb in labels]))
    out.append(row("total CPU s of the stack", [many[lb]["cpu"] for lb in labels]))
    out.append(row("  run processes", [many[lb]["run_cpu"] for lb in labels]))
    out.append(row("wall s per file", [many[lb]["wall"] / files for lb in labels]))
    out.append(row("CPU s per file", [many[lb]["cpu"] / files for lb in labels]))
    for key, name in (("SUCCESS", "files published"), ("FAILURE", "files failed"), ("runs", "pipeline runs")):
        out.append(row(name, [many[lb].get(key, 0) for lb in labels], "{:>16.0f}"))
    out.append(
        "CPU: psutil over the daemon's process tree (user + system, reaped children included) at the window's "
        "ends; the run processes' share from the code servers' reaped children (sampled every 0.2 s). The "
        "daemon starts a new code server every 60 s (workspace reload), which counts in the stack."
    )
    return out


def report(res: dict, runs: int, files: int, daemon_files: int | None = None) -> str:
    labels = list(res)
    head = f"{'':<44}" + "".join(f"{lb:>16}" for lb in labels) + (f"{'ratio':>9}" if len(labels) == 2 else "")

    def row(name: str, values: list[float], fmt: str = "{:>16.2f}") -> str:
        ratio = f"{values[1] / values[0]:>9.2f}" if len(values) == 2 and values[0] else ""
        return f"{name:<44}" + "".join(fmt.format(v) for v in values) + ratio

    out = [f"\n== one {ROWS:,}-row customers file, process start to published (median of {runs})", head]
    out.append(row("wall s", [med(res[lb]["wall"]) for lb in labels]))
    out.append(row("CPU s (user + system)", [med(res[lb]["cpu"]) for lb in labels]))
    out.append(f"\n== {files} files landing at once: dq-platform ingest <folder> (one command, a run per file)")
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
    if all("daemon" in res[lb] for lb in labels):
        out += daemon_report({lb: res[lb]["daemon"] for lb in labels}, row, head, runs, daemon_files or files)
    last = labels[-1]
    one, many = med(res[last]["wall"]), res[last]["many"]
    # 50 files: the measured folder's first file (a cold process) plus the rest at its per-file pace
    per_file = (many["wall"] - one) / max(files - 1, 1)
    fifty = many["wall"] if files == 50 else one + 49 * per_file

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out.append(
        f"\ntargets ({last}): one file <= 3 s: {one:.2f} s wall ({verdict(one <= 3)}); "
        f"50 files <= 60 s: dq-platform ingest {fifty:.1f} s"
        f"{'' if files == 50 else f' (from {files} files: {per_file:.2f} s per warm file)'} ({verdict(fifty <= 60)})"
    )
    landed = res[last].get("daemon", {}).get("many")
    if landed and (daemon_files or files) == 50:  # the same target through the daemon, as files land
        out[-1] += f", through dagster-daemon {landed['wall']:.1f} s ({verdict(landed['wall'] <= 60)})"
    out[-1] += " - wall on this machine as loaded now; CPU above"
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--phases"]:
        phases_main(argv[1:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="single files measured per tree and mode (median), default 3")
    p.add_argument("--files", type=int, default=50, help="files landing at once, default 50")
    p.add_argument(
        "--prev",
        default="merge-base",
        help="commit to compare with (default: where this branch left main; 'none': this tree only)",
    )
    p.add_argument(
        "--daemon",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure through dagster-daemon (default on; --no-daemon: the CLI part only)",
    )
    p.add_argument(
        "--daemon-files",
        type=int,
        default=None,
        help="files landing at once through the daemon (default: --files; a run per file takes minutes there)",
    )
    p.add_argument("--sensor-interval", type=int, default=2, help="DQ_SENSOR_INTERVAL_SECONDS of the daemon, default 2")
    args = p.parse_args(argv)
    import signal

    # SIGTERM (a `timeout`, a kill) unwinds like Ctrl-C: the daemons and the temporary checkout are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
        daemon_files = min(args.daemon_files or args.files, args.files)
        res = bench(trees, args.runs, args.files, args.sensor_interval if args.daemon else None, daemon_files)
        print(report(res, args.runs, args.files, daemon_files), flush=True)
        (WORK / "results.json").write_text(json.dumps(res, indent=2, default=str))
    finally:
        if prev is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(prev)], check=False)


if __name__ == "__main__":
    main()
