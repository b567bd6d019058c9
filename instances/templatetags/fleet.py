"""Template helpers of the fleet pages: relative times, usage meters, durations, percentages.

Markup built here escapes text with the standard library's ``html.escape`` (what Django's
``escape`` calls, without its lazy-string wrapper, which costs more than the escaping itself
over the overview's thousands of values).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from urllib.parse import quote

from django import template
from django.utils.safestring import SafeString, mark_safe

from instances.fleet import is_high_load
from instances.pages import NAME_SLOT, OverviewRow
from julia_monitor.lib import text

register = template.Library()


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """Return how long ago ``moment`` was ("agora", "há 3 min", "há 2 h 5 min"), or "—"."""
    if moment is None or moment == "":
        return "—"
    return text.ago(moment, now)


@register.filter
def duration(value: timedelta | None) -> str:
    """Return a span of time in words: "40 s", "45 min", "3 h 5 min", "2 d 4 h"."""
    return "—" if value is None else text.span(value)


@register.filter
def pct(value: float | None) -> str:
    """Return ``12.5%`` (the API's format), or "—" when there is no value."""
    return "—" if value is None else text.percent(value)


@register.filter
def for_name(url: str, name: str) -> str:
    """Return a URL reversed with ``NAME_SLOT`` for this instance's name."""
    return url.replace(NAME_SLOT, quote(name, safe=""))


# A native <meter> carries the share as an attribute: an inline style="width: …" would need
# 'unsafe-inline' in the Content-Security-Policy, and an SVG per bar weighs twice as much on a
# 1,000-row page. Hidden from screen readers: the numbers beside it say the same.
METER_HTML = (
    '<div class="meter" data-meter="{label}"><meter class="fill{level}" max="100" value="{width}" aria-hidden="true">'
    "</meter>"
    '<span class="text">{used}/{capacity}</span></div>'
)


def _meter(used: int, capacity: int, label: str) -> str:
    share = used / capacity if capacity else 0.0
    # Amber where the capacity alert fires, red at the limit; the colour only reinforces the numbers.
    level = " full" if share >= 1 else " high" if is_high_load(share * 100) else ""
    width = f"{min(share, 1.0) * 100:.0f}"
    return METER_HTML.format(label=escape(label), level=level, width=width, used=int(used), capacity=int(capacity))


@register.simple_tag
def meter(used: int, capacity: int, label: str = "") -> SafeString:
    """Return a usage bar with the numbers in text ("17/20"); the colour only reinforces them."""
    return mark_safe(_meter(used, capacity, label))  # noqa: S308 - every value is escaped or a number


# One overview row. Built in Python, not with a template loop: with 1,000 instances the
# template engine took ~180 ms for the rows alone, this takes a tenth of that.
ROW_HTML = (
    '<tr data-instance="{name}" data-status="{status}"{after}>'
    '<th scope="row" class="name"><a href="{url}">{name}</a></th>'
    '<td><span class="status {status}"><span aria-hidden="true">{emoji}</span> {status_display}</span>'
    "{note}{maintenance}</td>"
    '<td class="num hide-sm">{phone}</td>'
    '<td data-col="hour">{hour}</td>'
    '<td data-col="day">{day}{forecast}</td>'
    '<td class="num" data-col="load">{load}</td>'
    '<td class="num" data-col="last-message"{at}>{last_message}</td>'
    '<td data-col="alerts">{alerts}</td>'
    "</tr>\n"
)
FORECAST_HTML = '<span class="forecast" data-field="forecast">{text}</span>'
NOTE_HTML = '<span class="status-note" data-field="status-note">{text}</span>'
MAINTENANCE_HTML = '<span class="maintenance-mark" data-field="maintenance">🔧 {text}</span>'
ALERT_MARK_HTML = '<a class="alert-mark" href="{href}" data-alerts="{count}">⚠ {count} {word}</a>'


# Where a row's "há 3 min" and its forecast go. A digest of the row (``instances.overview_refresh``)
# is taken with these in their place, so a row does not count as changed when only these moved
# with the clock: fleet.js says the age again from the cell's ``data-at`` at every refresh, and a
# forecast that moved is sent alone, a few bytes instead of the row. Escaped text holds no "<".
AGO_SLOT = "<ago/>"
FORECAST_SLOT = "<forecast/>"


@dataclass(frozen=True)
class RowParts:
    """A row's HTML with ``AGO_SLOT`` and ``FORECAST_SLOT``, and what goes in them."""

    skeleton: str
    age: str
    forecast: str  # the forecast's words ("limite diário às 16:40"), "" for none

    @property
    def html(self) -> str:
        forecast = FORECAST_HTML.format(text=escape(self.forecast)) if self.forecast else ""
        return self.skeleton.replace(AGO_SLOT, self.age, 1).replace(FORECAST_SLOT, forecast, 1)


def row_parts(
    row: OverviewRow, now: datetime, instance_url: str, alert_log_url: str, after: str | None = None
) -> RowParts:
    """Return one instance's ``<tr>`` in parts; ``after`` (a diff refresh) names the row it follows ("": first)."""
    u = row.usage
    name = escape(u.name)
    alerts = ""
    if row.open_alerts:
        alerts = ALERT_MARK_HTML.format(
            href=escape(f"{alert_log_url}?instancia={quote(u.name, safe='')}"),
            count=row.open_alerts,
            word="alerta" if row.open_alerts == 1 else "alertas",
        )
    last = u.last_message_at
    skeleton = ROW_HTML.format(
        name=name,
        status=escape(row.status),
        after="" if after is None else f' data-after="{escape(after)}"',
        url=escape(for_name(instance_url, u.name)),
        emoji=row.emoji,
        status_display=escape(row.status_display),
        note=NOTE_HTML.format(text=escape(u.note)) if u.note else "",
        maintenance=MAINTENANCE_HTML.format(text=escape(row.maintenance)) if row.maintenance else "",
        phone=escape(u.phone_number) or "—",
        hour=_meter(u.msgs_hour, u.capacity_per_hour, "hour"),
        day=_meter(u.msgs_day, u.capacity_per_day, "day"),
        forecast=FORECAST_SLOT,
        load=row.load,
        at=f' data-at="{instant(last)}"' if last else "",
        last_message=AGO_SLOT if last else "—",
        alerts=alerts,
    )
    return RowParts(skeleton, ago(last, now) if last else "", row.forecast)


def instant(moment: datetime) -> int:
    """Return the moment in milliseconds since the epoch, as JavaScript counts time (``Date.now()``)."""
    return int(moment.timestamp() * 1000)


def row_html(row: OverviewRow, now: datetime, instance_url: str, alert_log_url: str, after: str | None = None) -> str:
    """Return one instance's ``<tr>``; ``after`` (a diff refresh) names the row it follows ("" for the first)."""
    return row_parts(row, now, instance_url, alert_log_url, after).html
