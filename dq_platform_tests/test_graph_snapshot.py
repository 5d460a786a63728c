"""The whole asset graph as text, compared with a committed snapshot.

An accidental change of lineage, grouping, partitioning, checks, jobs, sensors, schedules
or resources fails here. After an
intended change: UPDATE_SNAPSHOTS=1 make test, and commit the new snapshot.
"""

from __future__ import annotations

import os
from pathlib import Path

from dq_platform.definitions import build_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def describe_graph(defs) -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parts = "partitioned" if node.partitions_def else "unpartitioned"
        deps = ", ".join(sorted(p.to_user_string() for p in node.parent_keys)) or "-"
        lines.append(
            f"{key.to_user_string()}  [group {node.group_name}, {parts}, kinds {sorted(node.kinds)}]  <- {deps}"
        )
        for check in sorted(node.check_keys, key=lambda c: c.name):
            spec = graph.get_check_spec(check) if hasattr(graph, "get_check_spec") else None
            blocking = " (blocking)" if spec is not None and spec.blocking else ""
            lines.append(f"    check {check.name}{blocking}")
    jobs = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    lines.append(f"jobs: {', '.join(jobs)}")
    sensors = sorted(f"{s.name} ({s.default_status.value.lower()})" for s in defs.sensors or [])
    lines.append(f"sensors: {', '.join(sensors)}")
    schedules = sorted(
        f"{s.name} -> {s.job_name} @ {s.cron_schedule} ({s.default_status.value.lower()})" for s in defs.schedules or []
    )
    lines.append(f"schedules: {', '.join(schedules)}")
    resources = sorted(defs.resources or {})
    lines.append(f"resources: {', '.join(resources)}")
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_snapshot(tmp_path):
    text = describe_graph(build_definitions(warehouse_root=str(tmp_path)))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"no snapshot at {SNAPSHOT}: run with UPDATE_SNAPSHOTS=1 once"
    assert text == SNAPSHOT.read_text(), "asset graph changed: review, then UPDATE_SNAPSHOTS=1"
