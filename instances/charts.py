"""Charts drawn on the server as inline SVG: no chart library, nothing fetched by the browser."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from instances.fleet import is_high_load
from julia_monitor.lib.text import plural

# Drawing units of the viewBox; the SVG scales to its box (width 100%), so at 375 px wide the
# labels (16 units, fleet.css) come out at about 11 px and the bars stay tappable.
WIDTH, HEIGHT = 480, 190
LEFT, RIGHT, TOP, BOTTOM = 40, 6, 18, 26
LABEL_EVERY_HOURS = 3


def usage_summary(points: Sequence[tuple[datetime, int]], capacity_per_hour: int) -> str:
    """Return the chart in one sentence, for screen readers (``aria-label``)."""
    total = sum(count for _hour, count in points)
    text = f"Mensagens por hora nas últimas {len(points)} horas: {plural(total, 'mensagem', 'mensagens')} no total"
    if total:
        peak_hour, peak = max(points, key=lambda point: point[1])
        text += f", pico de {peak} às {timezone.localtime(peak_hour):%H}h"
    return f"{text}; limite de {capacity_per_hour} por hora."


def usage_chart(points: Sequence[tuple[datetime, int]], capacity_per_hour: int) -> SafeString:
    """Return an SVG bar chart of ``(hour, messages)`` points with the hourly limit as a line.

    The scale goes up to the limit (or the highest bar above it), so a bar's height reads as
    "how close to the limit", the question the team asks of an instance. Every bar carries
    a ``<title>`` (hover text) and its numbers as ``data-`` attributes.
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max([capacity_per_hour, 1, *(count for _hour, count in points)])
    slot = plot_w / max(len(points), 1)
    bar_w = slot * 0.72
    baseline = TOP + plot_h

    def y(value: int) -> float:
        return baseline - value / top * plot_h

    bars = []
    labels = []
    for index, (hour, count) in enumerate(points):
        local = timezone.localtime(hour)
        x = LEFT + index * slot
        if count >= capacity_per_hour:
            level = "full"
        else:
            level = "high" if is_high_load(100 * count / capacity_per_hour) else ""
        bars.append(
            (
                local.isoformat(timespec="minutes"),
                count,
                f"{x:.1f}",
                f"{slot:.1f}",
                f"{TOP}",
                f"{plot_h}",
                f"bar {level}".strip(),
                f"{x + (slot - bar_w) / 2:.1f}",
                f"{y(count):.1f}",
                f"{bar_w:.1f}",
                f"{baseline - y(count):.1f}",
                f"{local:%d/%m %H}h: {plural(count, 'mensagem', 'mensagens')} (limite {capacity_per_hour})",
            )
        )
        if local.hour % LABEL_EVERY_HOURS == 0:
            labels.append((f"{x + slot / 2:.1f}", f"{HEIGHT - 5}", f"{local:%H}h"))

    bar_html = format_html_join(
        "",
        '<g class="hour" data-hour="{}" data-count="{}">'
        '<rect class="hit" x="{}" width="{}" y="{}" height="{}" fill="transparent"/>'
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>'
        "<title>{}</title></g>",
        bars,
    )
    label_html = format_html_join("", '<text class="hour-label" x="{}" y="{}" text-anchor="middle">{}</text>', labels)
    limit_y = f"{y(capacity_per_hour):.1f}"
    return format_html(
        '<svg class="usage-chart" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{label}" '
        'preserveAspectRatio="xMidYMid meet" data-chart="usage-24h">'
        '<line class="axis" x1="{left}" x2="{right}" y1="{base}" y2="{base}"/>'
        '<text class="tick" x="{tick_x}" y="{base}" text-anchor="end">0</text>'
        "{bars}"
        '<line class="limit" x1="{left}" x2="{right}" y1="{limit_y}" y2="{limit_y}"/>'
        '<text class="tick" x="{tick_x}" y="{top_y}" text-anchor="end">{top}</text>'
        '<text class="limit-label" x="{right}" y="{limit_text_y}" text-anchor="end">limite {limit}/h</text>'
        "{labels}</svg>",
        w=WIDTH,
        h=HEIGHT,
        label=usage_summary(points, capacity_per_hour),
        left=LEFT,
        right=WIDTH - RIGHT,
        base=f"{baseline}",
        tick_x=LEFT - 4,
        bars=bar_html,
        limit_y=limit_y,
        top_y=TOP + 5,
        top=top,
        limit_text_y=f"{max(float(limit_y) - 4, 13):.1f}",
        limit=capacity_per_hour,
        labels=label_html,
    )
