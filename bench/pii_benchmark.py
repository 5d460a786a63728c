"""Benchmark of the PII detector (issue #21): precision/recall per category, and throughput.

    python bench/pii_benchmark.py                 # labelled set + 1M values per column type
    python bench/pii_benchmark.py --rows 200000   # smaller throughput columns

1. Quality: the labelled set of bench/pii_labelled.py (public formats, seeded), scored per
   category for today's detector (engine/pii/), the previous one (main's engine/pii.py, loaded
   from git in this same run) and Presidio's pattern recognizers when presidio-analyzer is
   installed (its pattern recognizers need no spaCy model).
2. Throughput: values/s and CPU seconds on `--rows` values of each column type — mixed labelled
   values, the same made distinct, ordinary text, masked tokens — for the same detectors, side by
   side (the better of two runs each), and the ratio of values per CPU second.
   Targets: P and R >= 0.99 per category; no column type below half the previous speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from pii_labelled import labelled_set  # noqa: E402

from dq_platform.engine.pii import KINDS, scan_frame  # noqa: E402
from dq_platform.engine.pii.scan import column_hits  # noqa: E402


def previous_detector():
    """main's engine/pii.py as a module, or None when there is no such file on main."""
    try:
        text = subprocess.run(
            ["git", "show", "main:dq_platform/engine/pii.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except subprocess.CalledProcessError:
        return None
    path = ROOT / ".bench" / "pii_previous.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("pii_previous", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["pii_previous"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def presidio_detector():
    """A function value -> set of kinds using Presidio's pattern recognizers, or None if not installed."""
    try:
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UsSsnRecognizer,
        )
    except ImportError:
        return None
    recognizers = [
        (CreditCardRecognizer(), "CREDIT_CARD"),
        (EmailRecognizer(), "EMAIL_ADDRESS"),
        (IbanRecognizer(), "IBAN_CODE"),
        (IpRecognizer(), "IP_ADDRESS"),
        (PhoneRecognizer(), "PHONE_NUMBER"),
        (UsSsnRecognizer(), "US_SSN"),
    ]
    names = {"CREDIT_CARD": "card", "EMAIL_ADDRESS": "email", "IBAN_CODE": "iban", "PHONE_NUMBER": "phone"}
    names["US_SSN"] = "ssn"

    def kinds(value: str) -> set[str]:
        found = set()
        for rec, entity in recognizers:
            for r in rec.analyze(value, [entity], None) or []:
                if r.score < 0.4:  # Presidio's own low-confidence pattern hits (bare digit runs)
                    continue
                if entity == "IP_ADDRESS":
                    found.add("ipv6" if ":" in value[r.start : r.end] else "ipv4")
                else:
                    found.add(names[entity])
        return found

    return kinds


def masks_of(detector: str, values: pd.Series, modules: dict) -> dict[str, np.ndarray]:
    if detector == "today":
        return column_hits(values)
    if detector == "previous":
        return modules["previous"]._hit_masks(values)
    kinds = [modules["presidio"](v) for v in values.tolist()]
    return {k: np.array([k in found for found in kinds]) for k in KINDS}


def score(masks: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, tuple[float, float, int, int]]:
    out = {}
    for kind in KINDS:
        pred = masks.get(kind, np.zeros(len(labels), dtype=bool))
        truth = labels == kind
        tp, fp, fn = int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())
        out[kind] = (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0, fp, fn)
    return out


def ordinary_text(rng: random.Random, n: int) -> list[str]:
    words = "order shipped delivered customer review great product box late refund thanks team the a to".split()
    out = []
    for i in range(n):
        w = [rng.choice(words) for _ in range(rng.randrange(3, 12))]
        if i % 5 == 0:
            w.insert(rng.randrange(len(w)), str(rng.randrange(1, 500)))
        out.append(" ".join(w).capitalize() + rng.choice([".", "!", ""]))
    return out


def masked_tokens(rng: random.Random, n: int) -> list[str]:
    out = []
    for i in range(n):
        r = i % 4
        if r == 0:
            out.append(f"tk_{rng.getrandbits(96):024x}")
        elif r == 1:
            out.append(f"{rng.getrandbits(64):016x}@masked.invalid")
        elif r == 2:
            out.append(f"0{rng.randrange(100):02d}-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}")
        else:
            out.append(rng.choice(["[REDACTED]", "18-24", "65+", "Springfield", "627**", "[email] wrote"]))
    return out


def _letters(i: int) -> str:
    out = ""
    while True:
        i, r = divmod(i, 26)
        out += chr(97 + r)
        if not i:
            return out


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="values per throughput column")
    ap.add_argument("--presidio-rows", type=int, default=20_000, help="values per column for Presidio (slow)")
    args = ap.parse_args()
    modules = {"previous": previous_detector(), "presidio": presidio_detector()}
    detectors = ["today"] + [d for d in ("previous", "presidio") if modules[d] is not None]
    if modules["presidio"] is None:
        print("Presidio: not installed (pip install presidio-analyzer); skipped")

    items = labelled_set()
    values = pd.Series([v for v, _ in items], dtype="string")
    labels = np.array([k for _, k in items])
    counts = {k: int((labels == k).sum()) for k in (*KINDS, "none")}
    print(f"labelled set: {len(items)} values; " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    print("\n## precision / recall per category (false positives / false negatives)\n")
    print("| category | " + " | ".join(f"{d} P | {d} R" for d in detectors) + " |")
    print("|---|" + "---|---|" * len(detectors))
    scores = {d: score(masks_of(d, values, modules), labels) for d in detectors}
    for kind in KINDS:
        cells = []
        for d in detectors:
            p, r, fp, fn = scores[d][kind]
            cells += [f"{p:.4f} ({fp})", f"{r:.4f} ({fn})"]
        print(f"| {kind} | " + " | ".join(cells) + " |")

    rng = random.Random(7)
    mixed = [items[rng.randrange(len(items))][0] for _ in range(args.rows)]
    columns = {
        "mixed labelled values": mixed,
        # the same values made distinct by a suffix of letters (no candidate in it): no repeats to reuse
        "mixed, every value distinct": [f"{v} ({_letters(i)})" for i, v in enumerate(mixed)],
        "ordinary text": ordinary_text(rng, args.rows),
        "masked tokens": masked_tokens(rng, args.rows),
    }
    print(
        f"\n## throughput, {args.rows:,} values per column (values/s wall; CPU s; Presidio on {args.presidio_rows:,})\n"
    )
    print("| column | " + " | ".join(detectors) + " | today / previous (values per CPU s) |")
    print("|---|" + "---|" * len(detectors) + "---|")
    for name, col in columns.items():
        series = pd.Series(col, dtype="string")
        rates = {}
        cells = []
        for d in detectors:
            s = series.iloc[: args.presidio_rows] if d == "presidio" else series
            frame = pd.DataFrame({"v": s})
            runs = 1 if d == "presidio" else 2  # the better of two runs: the first pays for warming up
            if d == "today":
                wall, cpu = min(timed(lambda frame=frame: scan_frame(frame)) for _ in range(runs))
            else:
                wall, cpu = min(timed(lambda s=s, d=d: masks_of(d, s, modules)) for _ in range(runs))
            rates[d] = len(s) / cpu  # CPU time: the machine is shared, wall time is noisy
            cells.append(f"{len(s) / wall:,.0f}/s ({cpu:.2f} s)")
        ratio = f"{rates['today'] / rates['previous']:.2f}x" if "previous" in rates else "-"
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
