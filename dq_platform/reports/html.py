"""The execution report as one self-contained HTML file: tables and inline SVG charts, no scripts.

Everything it shows comes from the report summary (reports.py), which holds counts, rates,
rule ids and check descriptions only, never a data value: the file can travel (email, S3) like
an alert. Charts are drawn by matplotlib into SVG text embedded in the page, so the file opens
anywhere, offline, with nothing to fetch.
"""

import html
import io

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1000px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.warn{color:#9a6700;font-weight:600}
.muted{color:#666}.chart{margin:.5em 0 1.5em}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG is inline


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: draw to files only
    import matplotlib.pyplot as plt

    # deterministic output (same run -> same file) and text kept as text (searchable, smaller)
    plt.rcParams.update({"svg.hashsalt": "dq_platform", "svg.fonttype": "none", "font.size": 9})
    return plt


def rules_chart(rows_clean: int, rules: list[tuple[str, int]]) -> str:
    """Clean rows vs quarantined rows per failed rule (a row can fail several rules)."""
    plt = _pyplot()
    labels = ["clean (passed every rule)"] + [r for r, _ in rules]
    values = [rows_clean] + [n for _, n in rules]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 0.8))
    bars = ax.barh(labels[::-1], values[::-1], color=(["#cf222e"] * len(rules) + ["#1a7f37"]))
    ax.bar_label(bars, padding=3)
    ax.set_xlabel("rows")
    ax.set_title("Clean vs quarantined rows per rule")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def history_chart(points: list[dict], levels: dict) -> str:
    """Failure rate of the dataset's recent runs, with the contract's thresholds."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 2.8))
    xs = list(range(len(points)))
    ax.plot(xs, [100 * (p["failure_rate"] or 0) for p in points], marker="o", color="#0969da", label="failure rate")
    for name, color in (("warn", "#9a6700"), ("review", "#8250df"), ("error", "#cf222e")):
        if levels.get(name) is not None:
            ax.axhline(100 * levels[name], color=color, linestyle="--", linewidth=1, label=f"{name} {levels[name]:.0%}")
    mine = [i for i, p in enumerate(points) if p.get("this_run")]
    if mine:
        ax.scatter(
            mine,
            [100 * (points[i]["failure_rate"] or 0) for i in mine],
            s=80,
            color="#cf222e",
            zorder=3,
            label="this run",
        )
    ax.set_xticks(xs, [p["when"][5:16].replace("T", " ") for p in points], rotation=45, ha="right")
    ax.set_ylabel("% rows quarantined")
    ax.set_title("Failure rate history (UTC)")
    ax.legend(fontsize=7, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def rows_chart(points: list[dict]) -> str:
    """Rows cleaned and quarantined per run over time."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 2.8))
    xs = list(range(len(points)))
    cleaned = [p["rows_cleaned"] or 0 for p in points]
    quarantined = [p["rows_quarantined"] or 0 for p in points]
    ax.bar(xs, cleaned, color="#1a7f37", label="cleaned")
    ax.bar(xs, quarantined, bottom=cleaned, color="#cf222e", label="quarantined")
    ax.set_xticks(xs, [p["when"][5:16].replace("T", " ") for p in points], rotation=45, ha="right")
    ax.set_ylabel("rows")
    ax.set_title("Row counts over time (UTC)")
    ax.legend(fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _href(uri: str) -> str:
    """A local report's path as a file:// link; an s3:// URI stays as it is."""
    return uri if "://" in uri else "file://" + uri


def _table(header: list[str] | None, rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header or [])
    body = "".join(
        "<tr>"
        + "".join(f"<td class='n'>{_e(c)}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def render(summary: dict) -> str:
    s = summary
    status_class = "ok" if s["status"] == "SUCCESS" else "bad"
    rows = s.get("rows") or {}
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(s['dataset'])} run "
        f"{_e(s['run_id'][:8])}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(s['dataset'])}: execution report</h1>",
        _table(
            None,
            [
                ["run", f"<code>{_e(s['run_id'])}</code> ({_e(s['job'])})"],
                [
                    "status",
                    f"<span class='{status_class}'>{_e(s['status'])}</span>"
                    + (f" &middot; <span class='warn'>{_e(s['review'])}</span>" if s.get("review") else ""),
                ],
                ["partition", f"<code>{_e(s['partition'])}</code>"],
                ["source", f"<code>{_e(s['source'].get('source_uri', '-'))}</code>"],
                ["sha256", f"<code>{_e(s['source'].get('checksum', '-'))}</code>"],
                ["started / ended (UTC)", f"{_e(s['started'])} / {_e(s['ended'])}"],
                ["rows", " &middot; ".join(f"{_e(k)} <b>{_e(v)}</b>" for k, v in rows.items()) or "-"],
                ["failure rate", "-" if s.get("failure_rate") is None else f"{s['failure_rate']:.2%}"],
            ],
        ),
    ]
    p = s.get("publication")
    if p:
        held = f"<code>{_e(p['held_run_id'] or '-')}</code>"
        if p.get("held_run_report"):
            held += f" &middot; <a href='{_e(_href(p['held_run_report']))}'>its execution report</a>"
        parts.append(
            "<h2>Publication of a held file</h2>"
            + _table(
                None,
                [
                    ["decision", f"<b>{_e(p['decision'])}</b> by {_e(p['reviewer'])} at {_e(p['decided'])}"],
                    ["comment", _e(p["comment"] or "-")],
                    [
                        "review run",
                        f"<code>{_e(p['review_run_id'])}</code> (on cleaned version {_e(p['cleaned_version'])})",
                    ],
                    ["held by run", held],
                ],
            )
        )
    if s.get("failures"):
        parts.append(
            "<h2>Failures</h2><ul>"
            + "".join(
                f"<li><b>{_e(f['step'])}</b>: <span style='white-space:pre-wrap'>{_e(f['error'])}</span></li>"
                for f in s["failures"]
            )
            + "</ul>"
        )
    if rows.get("in") is not None and rows.get("cleaned") is not None:
        parts.append(
            "<h2>Clean vs quarantined per rule</h2><div class='chart'>"
            + rules_chart(rows["cleaned"], s.get("rules", []))
            + "</div>"
        )
        if s.get("rules"):
            parts.append(
                _table(
                    ["rule", "rows", "share of rows"],
                    [
                        [f"<code>{_e(r)}</code>", n, f"{n / rows['in']:.2%}" if rows["in"] else "-"]
                        for r, n in s["rules"]
                    ],
                    numeric={1, 2},
                )
            )
    history = s.get("history") or []
    if history:
        parts.append(
            "<h2>Failure rate history</h2><div class='chart'>"
            + history_chart(history, s.get("levels", {}))
            + "</div><h2>Row counts over time</h2><div class='chart'>"
            + rows_chart(history)
            + "</div>"
        )
    parts.append(
        "<h2>Checks</h2>"
        + _table(
            ["asset", "check", "result", "severity", "description"],
            [
                [
                    _e(c["asset"]),
                    f"<code>{_e(c['check'])}</code>",
                    "<span class='ok'>passed</span>"
                    if c["passed"]
                    else f"<span class='{'bad' if c['severity'] == 'ERROR' else 'warn'}'>FAILED</span>",
                    _e(c["severity"]),
                    _e(c["description"]),
                ]
                for c in s["checks"]
            ],
        )
    )
    parts.append(
        "<h2>Tables written</h2>"
        + _table(
            ["asset", "partition", "rows", "Delta version"],
            [
                [
                    _e(m["asset"]),
                    f"<code>{_e(m['partition'] or '-')}</code>",
                    _e(
                        m["metadata"].get(
                            "rows_in",
                            m["metadata"].get(
                                "rows_cleaned",
                                m["metadata"].get(
                                    "rows_quarantined",
                                    m["metadata"].get("rows_masked", m["metadata"].get("groups", "-")),
                                ),
                            ),
                        )
                    ),
                    _e(m["metadata"].get("delta_version", "-")),
                ]
                for m in s["materializations"]
            ],
            numeric={2, 3},
        )
    )
    parts.append(
        "<p class='muted'>Counts, rates and rule ids only: quarantined values stay in the warehouse "
        f"(<code>quarantine_{_e(s['dataset'])}</code>).</p></body></html>"
    )
    return "\n".join(parts)
