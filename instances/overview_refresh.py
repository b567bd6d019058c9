"""The overview's refresh sends only the rows that changed since the version the page has.

Every rendered row has a digest of its HTML; the page's version is a digest of its rows' names
and digests, in order. Each version rendered is kept in the cache for ``KEPT_SECONDS`` (the rows
and their digests, not their HTML). A refresh that names a kept version gets the rows whose
HTML differs, each with the row it now follows, and the names of the rows gone; one that names
an unknown or expired version (another process without Redis, a tab asleep for minutes) gets
every row.

Digests of the *rendered* HTML, not of the database row: whatever time alone changes on screen
(a reading going stale shows ❓ unknown, a maintenance window ends) changes the HTML, so the row
is sent. Two things that move with the clock are left out of the row's digest, or most rows
would change every minute: the last message's age in words ("há 3 min"), which the page says
again itself at every refresh from the moment in the row and the server's clock; and the
capacity forecast ("limite diário às 16:40", which moves as the pace slows between messages),
sent alone as a patch (the row's name and its new words) when nothing else in the row changed.

Rows that did not change keep their order between two versions (the order is by shown status,
then name, both in the HTML), so the page can place each changed row after the row it follows.
Should that ever not hold, or when most rows changed, the answer is the whole table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.cache import caches

# Long enough for a tab that missed a few refreshes; a version is ~30 bytes a row in the cache.
KEPT_SECONDS = 300
CACHE_PREFIX = "overview-version:"
# Past this share of changed rows, the whole table is as small as the changes and simpler to apply.
MOST_ROWS = 0.5

RowDigests = list[tuple[str, bytes, bytes]]  # name, the row's digest, its forecast's digest


@dataclass(frozen=True)
class RenderedRow:
    name: str
    html: str
    digest: bytes  # of the row without its age in words and its forecast
    forecast: str = ""

    @property
    def forecast_digest(self) -> bytes:
        return digest(self.forecast)


@dataclass(frozen=True)
class ChangedRow:
    row: RenderedRow
    after: str  # the name of the row it follows now, "" for the first


@dataclass(frozen=True)
class Refresh:
    """What a refresh sends: every row (``full``), or the changed ones and the names removed."""

    version: str
    full: bool
    changed: list[ChangedRow]
    removed: list[str]
    # Rows where only the forecast changed: (name, its words now, "" for none).
    forecasts: list[tuple[str, str]] = field(default_factory=list)


def digest(html: str) -> bytes:
    return hashlib.blake2b(html.encode(), digest_size=8).digest()


def rendered(name: str, html: str, stable: str | None = None, forecast: str = "") -> RenderedRow:
    """Return a row; its digest is of ``stable`` when given (the HTML without its age and forecast)."""
    return RenderedRow(name, html, digest(html if stable is None else stable), forecast)


def version_of(rows: Sequence[RenderedRow]) -> str:
    """Return the version of a table: its rows' names and digests, in order."""
    h = hashlib.blake2b(digest_size=10)
    for row in rows:
        h.update(row.name.encode())
        h.update(b"\0")
        h.update(row.digest)
        h.update(row.forecast_digest)
    return h.hexdigest()


def _cache_key(version: str) -> str:
    return CACHE_PREFIX + version


# The default cache: Redis shared by every process, or (no Redis, or Redis down) this process's
# memory, where a version another process rendered is unknown and costs one whole table.
def _kept(version: str) -> RowDigests | None:
    return caches["default"].get(_cache_key(version))


def keep(version: str, rows: Sequence[RenderedRow]) -> None:
    """Keep a version's row digests for later refreshes to diff against."""
    kept = [(r.name, r.digest, r.forecast_digest) for r in rows]
    caches["default"].set(_cache_key(version), kept, KEPT_SECONDS)


def refresh(rows: Sequence[RenderedRow], known: str) -> Refresh:
    """Return what to send a page that shows version ``known`` ("" for none) of a table now ``rows``.

    No rows: the whole part, always (it is small, and which sentence stands for the table —
    no instance at all, none with this filter, a page past the last — is not in the version).
    """
    version = version_of(rows)
    if not rows:
        return Refresh(version, full=True, changed=[], removed=[])
    if known == version:
        caches["default"].touch(_cache_key(version), KEPT_SECONDS)  # still the page's: keep it longer
        return Refresh(version, full=False, changed=[], removed=[])
    keep(version, rows)
    old = _kept(known) if known else None
    if not old:
        return Refresh(version, full=True, changed=[], removed=[])
    return _diff(version, old, rows)


def _diff(version: str, old: RowDigests, rows: Sequence[RenderedRow]) -> Refresh:
    before = {name: (d, f) for name, d, f in old}
    now = {row.name: row.digest for row in rows}
    same = [row.name for row in rows if before.get(row.name, (None,))[0] == row.digest]
    same_before = [name for name, d, _f in old if now.get(name) == d]
    everything = Refresh(version, full=True, changed=[], removed=[])
    if same != same_before:  # an unchanged row moved: placing changed rows cannot rebuild the order
        return everything
    changed, forecasts = [], []
    for i, row in enumerate(rows):
        was = before.get(row.name)
        if was is None or was[0] != row.digest:
            changed.append(ChangedRow(row, rows[i - 1].name if i else ""))
        elif was[1] != row.forecast_digest:
            forecasts.append((row.name, row.forecast))
    if len(changed) > len(rows) * MOST_ROWS:
        return everything
    removed = [name for name, _d, _f in old if name not in now]
    return Refresh(version, full=False, changed=changed, removed=removed, forecasts=forecasts)
