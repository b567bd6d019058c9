"""Render a static preview of the Grafana dashboard from a real Prometheus: not Grafana, its queries drawn plainly.

There is no Grafana server to screenshot where this project is built, so this draws each panel
of ``julia-monitor.json`` from the answers a real Prometheus gives to that panel's own queries
(``/api/v1/query_range`` over the last minutes), at the panel's place on the grid, as SVG lines,
stacks, state bands and numbers. The page says, above the panels, that it is such a preview.

    python docs/grafana/preview.py --prometheus http://127.0.0.1:9090 --minutes 10

writes the page to ``test-artifacts/grafana-preview.html`` (not committed) and, with Playwright
and Chromium (``/usr/bin/chromium``), its screenshot to ``docs/grafana/preview.png``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
SUBSTITUTIONS = {"$instance_name": ".*", "$__rate_interval": "1m", "$__interval": "1m"}
COLUMN, ROW = 60, 36  # pixels per grid column (24 of them) and per grid row
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0", "#37872d", "#fade2a"]
NAMED = {
    "green": "#73bf69",
    "yellow": "#f2cc0c",
    "orange": "#ff9830",
    "red": "#f2495c",
    "gray": "#8e8e8e",
    "blue": "#5794f2",
}
NAMED |= {"text": "#d8d9da", "purple": "#b877d9"}
CAPTION = (
    "Prévia renderizada a partir das consultas do painel (docs/grafana/julia-monitor.json) "
    "num Prometheus real — não é o Grafana."
)


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    color: str = ""
    dashed: bool = False
    unit: str = ""


@dataclass
class Panel:
    spec: dict[str, Any]
    series: list[Series] = field(default_factory=list)


def color_of(name: str) -> str:
    return NAMED.get(name, name)


def legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template) or "valor"


def query_range(client: httpx.Client, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    answer = client.get("/api/v1/query_range", params={"query": expr, "start": start, "end": end, "step": step})
    answer.raise_for_status()
    return answer.json()["data"]["result"]


def overrides(spec: dict[str, Any], series: Series) -> None:
    """Apply the panel's display-name, colour and dash overrides to one series, as Grafana would."""
    for rule in spec.get("fieldConfig", {}).get("overrides", []):
        matcher = rule["matcher"]
        hit = series.name == matcher["options"] if matcher["id"] == "byName" else False
        hit = hit or (matcher["id"] == "byRegexp" and re.fullmatch(matcher["options"], series.name) is not None)
        if not hit:
            continue
        for prop in rule["properties"]:
            if prop["id"] == "displayName":
                series.name = prop["value"]
            elif prop["id"] == "color":
                series.color = color_of(prop["value"]["fixedColor"])
            elif prop["id"] == "custom.lineStyle":
                series.dashed = True
            elif prop["id"] == "unit":
                series.unit = prop["value"]


def fetch(prometheus: str, dashboard: dict[str, Any], minutes: float) -> list[Panel]:
    end = time.time()
    start = end - minutes * 60
    step = max(round((end - start) / 150), 1)
    panels = []
    with httpx.Client(base_url=prometheus, timeout=10) as client:
        for spec in dashboard["panels"]:
            panel = Panel(spec)
            for target in spec.get("targets", []):
                for result in query_range(client, target["expr"], start, end, step):
                    points = [(float(t), float(v)) for t, v in result["values"]]
                    series = Series(legend(target.get("legendFormat", ""), result["metric"]), points)
                    overrides(spec, series)
                    panel.series.append(series)
            for n, series in enumerate(panel.series):
                series.color = series.color or PALETTE[n % len(PALETTE)]
            panels.append(panel)
    return panels


def number(value: float, unit: str) -> str:
    if unit == "percentunit":
        return f"{value * 100:.0f}%".replace(".", ",")
    if unit == "s":
        if value >= 3600:
            return f"{value / 3600:.1f} h".replace(".", ",")
        return f"{value / 60:.1f} min".replace(".", ",") if value >= 120 else f"{value:.1f} s".replace(".", ",")
    return f"{value:g}".replace(".", ",")


def mapped(spec: dict[str, Any], value: float) -> tuple[str, str] | None:
    """Return the (text, colour) a value mapping gives ``value``, if any."""
    for mapping in spec.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        option = mapping.get("options", {}).get(f"{value:g}")
        if option:
            return option["text"], color_of(option.get("color", "text"))
    return None


def threshold_color(spec: dict[str, Any], value: float) -> str:
    steps = spec.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    color = "text"
    for step in steps:
        if step["value"] is None or value >= step["value"]:
            color = step["color"]
    return color_of(color)


def stat(panel: Panel, width: int, height: int) -> str:
    spec = panel.spec
    if not panel.series:
        return '<div class="empty">sem dados</div>'
    series = panel.series[0]
    value = series.points[-1][1]
    unit = spec.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    text, color = mapped(spec, value) or (number(value, unit), threshold_color(spec, value))
    if spec.get("options", {}).get("textMode") == "name":
        text = series.name
    return f'<div class="stat" style="background:{color}">{html.escape(text)}</div>'


def timeseries(panel: Panel, width: int, height: int) -> str:
    spec = panel.spec
    stacked = spec["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
    plot_w, plot_h = width - 24, height - 70
    times = sorted({t for s in panel.series for t, _ in s.points})
    if not times:
        return '<div class="empty">sem dados</div>'
    t0, t1 = times[0], max(times[-1], times[0] + 1)
    base = dict.fromkeys(times, 0.0)
    layers = []
    for series in panel.series:
        values = dict(series.points)
        tops = {t: (base[t] if stacked else 0.0) + values.get(t, 0.0) for t in times}
        layers.append((series, {t: base[t] for t in times} if stacked else None, tops, values))
        if stacked:
            base = tops
    top = max([max(tops.values()) for _, _, tops, _ in layers] + [spec["fieldConfig"]["defaults"].get("max") or 0])
    top = top if top > 0 else 1.0  # an all-zero panel still gets an axis

    def x(t: float) -> float:
        return (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return plot_h - v / (top * 1.1) * plot_h

    shapes = []
    for series, bottom, tops, values in layers:
        line = " ".join(f"{x(t):.1f},{y(tops[t]):.1f}" for t in times if stacked or t in values)
        dash = ' stroke-dasharray="6 5"' if series.dashed else ""
        if bottom is not None:
            back = " ".join(f"{x(t):.1f},{y(bottom[t]):.1f}" for t in reversed(times))
            shapes.append(f'<polygon points="{line} {back}" fill="{series.color}" fill-opacity="0.55"/>')
        shapes.append(f'<polyline points="{line}" fill="none" stroke="{series.color}" stroke-width="2"{dash}/>')
    unit = spec["fieldConfig"]["defaults"].get("unit", "short")
    axis = f'<text x="2" y="12" class="axis">{html.escape(number(top, unit))}</text>'
    legends = "".join(
        f'<span><i style="background:{s.color}"></i>{html.escape(s.name)} '
        f"<b>{html.escape(number(s.points[-1][1], s.unit or unit))}</b></span>"
        for s in panel.series
        if s.points
    )
    svg = f'<svg width="{plot_w}" height="{plot_h}">{axis}{"".join(shapes)}</svg>'
    return f'{svg}<div class="legend">{legends}</div>'


def state_timeline(panel: Panel, width: int, height: int) -> str:
    rows = []
    band_w = width - 130
    for series in panel.series:
        count = max(len(series.points), 1)
        cells = []
        for n, (_t, value) in enumerate(series.points):
            text, color = mapped(panel.spec, value) or (f"{value:g}", "#8e8e8e")
            left, cell = n * band_w / count, band_w / count + 0.5
            cells.append(
                f'<rect x="{left:.1f}" width="{cell:.1f}" height="22" fill="{color}"><title>{text}</title></rect>'
            )
        last = mapped(panel.spec, series.points[-1][1]) if series.points else None
        label = f"{series.name}: {last[0] if last else '—'}"
        svg = f'<svg width="{band_w}" height="22">{"".join(cells)}</svg>'
        rows.append(f'<div class="band"><span>{html.escape(label)}</span>{svg}</div>')
    return "".join(rows) or '<div class="empty">sem dados</div>'


def render(dashboard: dict[str, Any], panels: list[Panel]) -> str:
    drawers = {"stat": stat, "timeseries": timeseries, "state-timeline": state_timeline}
    boxes = []
    bottom = 0
    for panel in panels:
        place = panel.spec["gridPos"]
        left, top = place["x"] * COLUMN, place["y"] * ROW
        width, height = place["w"] * COLUMN - 8, place["h"] * ROW - 8
        bottom = max(bottom, top + height)
        title = html.escape(panel.spec["title"])
        style = f"left:{left}px;top:{top}px;width:{width}px;height:{height}px"
        if panel.spec["type"] == "row":
            boxes.append(f'<h2 style="{style}">{title}</h2>')
            continue
        body = drawers[panel.spec["type"]](panel, width, height)
        boxes.append(f'<section style="{style}"><h3>{title}</h3>{body}</section>')
    css = (HERE / "preview.css").read_text(encoding="utf-8")
    return (
        f'<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><style>{css}</style></head><body>'
        f"<header><h1>{html.escape(dashboard['title'])}</h1><p>{html.escape(CAPTION)}</p></header>"
        f'<main style="height:{bottom + 8}px">{"".join(boxes)}</main></body></html>'
    )


def screenshot(page_html: Path, png: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 24 * COLUMN + 32, "height": 900})
        page.goto(page_html.as_uri())
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prometheus", required=True, help="the Prometheus that scrapes the portal, e.g. http://127.0.0.1:9090"
    )
    parser.add_argument("--minutes", type=float, default=10, help="how far back to draw (default 10)")
    parser.add_argument("--out", type=Path, default=HERE / "preview.png", help="the PNG to write")
    parser.add_argument("--html", type=Path, default=HERE.parents[1] / "test-artifacts" / "grafana-preview.html")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--no-screenshot", action="store_true", help="write only the HTML page")
    args = parser.parse_args()
    dashboard = json.loads((HERE / "julia-monitor.json").read_text(encoding="utf-8"))
    try:
        panels = fetch(args.prometheus, dashboard, args.minutes)
    except httpx.HTTPError as exc:
        parser.exit(1, f"preview: Prometheus at {args.prometheus} did not answer: {exc}\n")
    page: Path = args.html
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(dashboard, panels), encoding="utf-8")
    print(f"preview: wrote {page}")
    if not args.no_screenshot:
        screenshot(page, args.out, args.chromium)
        print(f"preview: wrote {args.out}")


if __name__ == "__main__":
    main()
