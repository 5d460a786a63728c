"""The execution report as one self-contained HTML file: tables and inline SVG charts, no scripts.

Everything it shows comes from the report summary (reports.py), which holds counts, rates,
rule ids and check descriptions only, never a data value: the file can travel (email, S3) like
an alert. Charts are SVG elements written straight into the page, so the file opens anywhere,
offline, with nothing to fetch. They were drawn by matplotlib; its import and drawing cost ~1 s of
every run's publishing path for three simple charts (bars, a line, stacked bars), so they are now
a few lines of SVG each (~1 ms).
"""

import html
import math

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


_FONT = "-apple-system,Segoe UI,Helvetica,Arial,sans-serif"
_CHAR_W = 6.2  # average width of an 11px character: enough to lay labels out without measuring text


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    """An inline SVG chart: title on top, `body` elements drawn in page coordinates."""
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
        f"viewBox='0 0 {width:.0f} {height:.0f}' font-family='{_FONT}' font-size='11' role='img'>"
        f"<title>{_e(title)}</title>"
        f"<text x='{width / 2:.0f}' y='16' text-anchor='middle' font-size='13'>{_e(title)}</text>"
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, label, anchor: str = "start", extra: str = "") -> str:
    return f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}'{extra}>{_e(label)}</text>"


def _ticks(top: float) -> list[float]:
    """0 and a few round values up to `top` for a value axis."""
    if top <= 0:
        return [0.0]
    step = 10 ** math.floor(math.log10(top / 4)) if top >= 4 else top / 4
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 5:
            step *= factor
            break
    return [i * step for i in range(int(top / step) + 1)]


def _legend(x: float, y: float, items: list[tuple[str, str, str]]) -> list[str]:
    """Legend rows of (label, color, kind: bar | line | dashed | dot) from (x, y) down."""
    out = []
    for i, (label, color, kind) in enumerate(items):
        cy = y + 13 * i
        if kind == "bar":
            out.append(f"<rect x='{x}' y='{cy - 8}' width='10' height='9' fill='{color}'/>")
        elif kind == "dot":
            out.append(f"<circle cx='{x + 5}' cy='{cy - 4}' r='4' fill='{color}'/>")
        else:
            dash = " stroke-dasharray='4 3'" if kind == "dashed" else ""
            out.append(f"<line x1='{x}' y1='{cy - 4}' x2='{x + 14}' y2='{cy - 4}' stroke='{color}'{dash}/>")
        out.append(_text(x + 18, cy, label, extra=" font-size='9'"))
    return out


def _time_axes(points: list[dict], left: float, top: float, width: float, height: float, ymax: float, unit: str):
    """Y gridlines with values, the y label, and each point's time under the x axis (rotated)."""
    out = [f"<line x1='{left}' y1='{top + height}' x2='{left + width}' y2='{top + height}' stroke='#444'/>"]
    for v in _ticks(ymax):
        y = top + height - (v / ymax * height if ymax else 0)
        out.append(f"<line x1='{left}' y1='{y:.1f}' x2='{left + width}' y2='{y:.1f}' stroke='#eee'/>")
        out.append(_text(left - 4, y + 4, f"{v:g}", "end"))
    out.append(_text(12, top + height / 2, unit, "middle", extra=f" transform='rotate(-90 12 {top + height / 2:.0f})'"))
    slot = width / max(len(points), 1)
    for i, p in enumerate(points):
        x, y = left + slot * (i + 0.5), top + height + 12
        label = p["when"][5:16].replace("T", " ")
        out.append(_text(x, y, label, "end", extra=f" font-size='9' transform='rotate(-45 {x:.1f} {y:.1f})'"))
    return out


def rules_chart(rows_clean: int, rules: list[tuple[str, int]]) -> str:
    """Clean rows vs quarantined rows per failed rule (a row can fail several rules), as bars."""
    labels = ["clean (passed every rule)"] + [r for r, _ in rules]
    values = [rows_clean] + [n for _, n in rules]
    colors = ["#1a7f37"] + ["#cf222e"] * len(rules)
    left = min(max(len(label) for label in labels) * _CHAR_W + 12, 300)
    plot, row, top = 440, 22, 28
    height = top + row * len(labels) + 34
    most = max(values) or 1
    body = [f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + row * len(labels)}' stroke='#444'/>"]
    for i, (label, value, color) in enumerate(zip(labels, values, colors, strict=True)):
        y = top + row * i
        w = value / most * plot
        body.append(f"<rect x='{left}' y='{y + 4}' width='{w:.1f}' height='{row - 8}' fill='{color}'/>")
        body.append(_text(left - 6, y + row / 2 + 4, label, "end"))
        body.append(_text(left + w + 4, y + row / 2 + 4, value))
    body.append(_text(left + plot / 2, height - 8, "rows", "middle"))
    return _svg(left + plot + 60, height, "Clean vs quarantined rows per rule", body)


def history_chart(points: list[dict], levels: dict) -> str:
    """Failure rate of the dataset's recent runs, with the contract's thresholds."""
    left, top, width, height = 50, 28, 560, 150
    rates = [100 * (p["failure_rate"] or 0) for p in points]
    marks = [(name, color, 100 * levels[name]) for name, color in _LEVELS if levels.get(name) is not None]
    ymax = max([*rates, *(v for _, _, v in marks), 1.0]) * 1.1
    body = _time_axes(points, left, top, width, height, ymax, "% rows quarantined")
    slot = width / max(len(points), 1)
    xy = [(left + slot * (i + 0.5), top + height - r / ymax * height) for i, r in enumerate(rates)]
    for name, color, value in marks:
        y = top + height - value / ymax * height
        body.append(
            f"<line x1='{left}' y1='{y:.1f}' x2='{left + width}' y2='{y:.1f}' stroke='{color}' "
            f"stroke-dasharray='4 3'><title>{name}</title></line>"
        )
    body.append(
        "<polyline fill='none' stroke='#0969da' stroke-width='1.5' points='"
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        + "'/>"
    )
    body += [f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='#0969da'/>" for x, y in xy]
    mine = [xy[i] for i, p in enumerate(points) if p.get("this_run")]
    body += [f"<circle cx='{x:.1f}' cy='{y:.1f}' r='6' fill='#cf222e'/>" for x, y in mine]
    legend = [("failure rate", "#0969da", "line")]
    legend += [(f"{name} {value / 100:.0%}", color, "dashed") for name, color, value in marks]
    legend += [("this run", "#cf222e", "dot")] if mine else []
    body += _legend(left + width + 10, top + 10, legend)
    return _svg(left + width + 110, top + height + 80, "Failure rate history (UTC)", body)


def rows_chart(points: list[dict]) -> str:
    """Rows cleaned and quarantined per run over time, stacked."""
    left, top, width, height = 60, 28, 560, 150
    cleaned = [p["rows_cleaned"] or 0 for p in points]
    quarantined = [p["rows_quarantined"] or 0 for p in points]
    ymax = max([c + q for c, q in zip(cleaned, quarantined, strict=True)] + [1]) * 1.1
    body = _time_axes(points, left, top, width, height, ymax, "rows")
    slot = width / max(len(points), 1)
    for i, (c, q) in enumerate(zip(cleaned, quarantined, strict=True)):
        x, base = left + slot * i + slot * 0.15, top + height
        hc, hq = c / ymax * height, q / ymax * height
        body.append(
            f"<rect x='{x:.1f}' y='{base - hc:.1f}' width='{slot * 0.7:.1f}' height='{hc:.1f}' fill='#1a7f37'/>"
        )
        body.append(
            f"<rect x='{x:.1f}' y='{base - hc - hq:.1f}' width='{slot * 0.7:.1f}' height='{hq:.1f}' fill='#cf222e'/>"
        )
    body += _legend(left + width + 10, top + 10, [("cleaned", "#1a7f37", "bar"), ("quarantined", "#cf222e", "bar")])
    return _svg(left + width + 110, top + height + 80, "Row counts over time (UTC)", body)


_LEVELS = (("warn", "#9a6700"), ("review", "#8250df"), ("error", "#cf222e"))


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
