"""Charts as server-side SVG (pygal), inlined in the page: no script, nothing fetched when viewed.

pygal writes its config into a `<script>` and links its tooltip script from the web; both are
dropped, so a chart is only shapes and text (pygal escapes labels as XML text). The pages'
Content-Security-Policy forbids scripts anyway."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

from avesa.dashboard.views import RunRow, newest_first
from avesa.state.ledger_records import TableRunRecord

ET.register_namespace("", "http://www.w3.org/2000/svg")
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")

GREEN, RED, BLUE, ORANGE, GREY = "#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#9e9e9e"


def _style(*colors: str) -> Style:
    return Style(background="white", plot_background="white", foreground="#333", foreground_strong="#111",
                 foreground_subtle="#ddd", colors=colors, font_family="system-ui, sans-serif",
                 label_font_size=11, major_label_font_size=11, legend_font_size=12, title_font_size=14)


def _config(**extra: object) -> dict[str, object]:
    return {"js": [], "disable_xml_declaration": True, "width": 900, "height": 260, "x_label_rotation": 30,
            "legend_at_bottom": True, "truncate_label": 16, "print_values": False,
            "show_minor_x_labels": True, "margin": 12, **extra}


def to_markup(chart: pygal.graph.graph.Graph) -> Markup:
    """The chart's SVG without scripts or comments, safe to inline in HTML."""
    root = chart.render_tree()
    for parent in list(root.iter()):
        for child in list(parent):
            if not isinstance(child.tag, str) or child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    root.set("role", "img")
    return Markup(ET.tostring(root, encoding="unicode"))  # ElementTree escaped every text and attribute


def _label(moment: object) -> str:
    return moment.strftime("%m-%d %H:%M") if hasattr(moment, "strftime") else str(moment)


def runs_chart(rows: Sequence[RunRow]) -> Markup:
    """Runs over time: each run's tables that completed and that failed, stacked."""
    rows = sorted(rows, key=lambda r: newest_first(r.run))
    chart = pygal.StackedBar(style=_style(GREEN, RED, GREY), y_title="tables", **_config())
    chart.x_labels = [_label(r.run.started_at) for r in rows]
    chart.add("complete", [r.complete_tables for r in rows])
    chart.add("failed", [r.failed_tables for r in rows])
    chart.add("other", [len(r.tables) - r.complete_tables - r.failed_tables for r in rows])
    return to_markup(chart)


def throughput_chart(rows: Sequence[RunRow]) -> Markup:
    """Records per second of each run."""
    rows = sorted(rows, key=lambda r: newest_first(r.run))
    chart = pygal.Bar(style=_style(BLUE), y_title="records/s", show_legend=False, **_config())
    chart.x_labels = [_label(r.run.started_at) for r in rows]
    chart.add("records/s", [None if r.records_per_second is None else round(r.records_per_second, 1) for r in rows])
    return to_markup(chart)


def rate_limit_chart(rows: Sequence[RunRow]) -> Markup:
    """HTTP 429 answers and retries of each run (what the run log counted)."""
    rows = sorted(rows, key=lambda r: newest_first(r.run))
    rate_limited = [r.counters.rate_limited if r.counters else None for r in rows]
    retries = [r.counters.retries if r.counters else None for r in rows]
    chart = pygal.Bar(style=_style(ORANGE, GREY), y_title="responses", **_config())
    chart.x_labels = [_label(r.run.started_at) for r in rows]
    chart.y_labels = _whole_numbers(max((v for v in rate_limited + retries if v), default=0))
    chart.add("HTTP 429", rate_limited)
    chart.add("retries", retries)
    return to_markup(chart)


def _whole_numbers(top: int, ticks: int = 5) -> list[int]:
    """Y labels 0..top (at least 0..ticks) at a whole-number step: counts have no fractions."""
    step = max(1, -(-max(top, ticks) // ticks))
    return list(range(0, max(top, ticks) + step, step))


def table_chart(history: Sequence[TableRunRecord]) -> Markup:
    """A table's records read and versions created per run."""
    history = sorted(history, key=newest_first)
    chart = pygal.Bar(style=_style(BLUE, GREEN, RED), y_title="rows", **_config())
    chart.x_labels = [_label(t.started_at) for t in history]
    chart.add("records", [t.records for t in history])
    chart.add("versions", [t.versions_created for t in history])
    chart.add("deletes", [t.deletes for t in history])
    return to_markup(chart)
