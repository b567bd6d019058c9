"""The product's words for counts, percentages and times, in pt-BR: one of each; and outside text made safe.

Every page, API message and alert says a count, a share, a span or a moment through these, so
the same age reads the same on the fleet page and in the alert log. Times are shown in the
portal's time zone (São Paulo). ``strftime`` rather than Django's ``date_format``: a page of a
thousand instances formats thousands of these at once.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.utils import timezone

# Under this, "agora": it also absorbs a clock a little ahead of ours.
JUST_NOW = timedelta(seconds=10)


def plural(count: int, one: str, many: str) -> str:
    """Return "1 falha" / "3 falhas": the count with the word that agrees with it."""
    return f"{count} {one if count == 1 else many}"


def percent(value: float) -> str:
    """Return "12.5%": one decimal, as the API's ``carga`` and ``capacidade_usada_pct``."""
    return f"{value:.1f}%"


def number(value: int) -> str:
    """Return "4.300": a count with pt-BR thousands separators."""
    return f"{value:,}".replace(",", ".")


def span(delta: timedelta) -> str:
    """Return a span of time: "40 s", "45 min", "3 h 5 min", "2 d 4 h"."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    days, minutes = divmod(seconds // 60, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def duration(delta: timedelta) -> str:
    """Return how long something lasted, in whole minutes: "menos de 1 min", "12 min", "2 h 5 min"."""
    if delta < timedelta(minutes=1):
        return "menos de 1 min"
    return span(timedelta(minutes=int(delta.total_seconds()) // 60))


def ago(at: datetime, now: datetime | None = None) -> str:
    """Return how long ago ``at`` was: "agora", "há 40 s", "há 3 min", "há 2 h 5 min", "há 3 d 4 h".

    The overview's script says a row's last message age the same way in the browser (fleet.js,
    ``span``/``sayAges``); a browser test compares the two.
    """
    age = (now or timezone.now()) - at
    return "agora" if age < JUST_NOW else f"há {span(age)}"


def _local(at: datetime) -> datetime:
    return timezone.localtime(at)


def clock(at: datetime, now: datetime | None = None) -> str:
    """Return "14:27" for a moment of today, "24/11 14:27" for another day."""
    local, today = _local(at), _local(now or timezone.now()).date()
    return f"{local:%H:%M}" if local.date() == today else f"{local:%d/%m %H:%M}"


def moment(at: datetime) -> str:
    """Return "24/11 14:27": a moment in a message or a table."""
    return f"{_local(at):%d/%m %H:%M}"


def moment_exact(at: datetime) -> str:
    """Return "24/11 14:27:05": a moment in a timeline, where seconds tell events apart."""
    return f"{_local(at):%d/%m %H:%M:%S}"


def moment_full(at: datetime) -> str:
    """Return "24/11/2026 14:27:05": a moment with its year (a tooltip)."""
    return f"{_local(at):%d/%m/%Y %H:%M:%S}"


def hour_minute(at: datetime) -> str:
    """Return "16:40" on São Paulo's clock, whatever the day: for a moment the reader knows is near."""
    return f"{_local(at):%H:%M}"


def time_of_day(at: datetime) -> str:
    """Return "14:27:05": when, today, something will happen again (a retry)."""
    return f"{_local(at):%H:%M:%S}"


# --- Outside text (instance names, message ids, gateway errors) -----------------------------

# C0 controls (NUL, newline, CR, tab, ESC…), DEL, C1 controls (NEL among them) and the two
# Unicode line separators: each can end a log line or hide one, and none belongs in a name.
# Lone surrogates too: JSON's "\ud800" decodes to one, and it cannot be encoded as UTF-8
# (PostgreSQL, a log stream and every channel refuse it).
UNSAFE_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def one_line(value: object) -> str:
    """Return ``str(value)`` with control characters and lone surrogates escaped: "a\\nb", "\\x1b[31m".

    For any outside text in a log line or a header: it can then neither start a forged line
    ("\\n[ALERTA] …") nor hide one (CR, ANSI escapes). Idempotent: backslashes are kept as they are.
    """
    return UNSAFE_CHARACTERS.sub(_escape, str(value))


def has_invalid_characters(value: str) -> bool:
    """Return True if ``value`` carries a control character or a lone surrogate: never valid input."""
    return UNSAFE_CHARACTERS.search(value) is not None
