"""The overview's refresh sends only what changed since the version the page shows.

The partial with the page's ``versao`` holds the summary, the changed rows (each naming the row it
now follows) and the rows gone; with an unknown version it holds every row. What time alone
changes on screen (a reading going stale, a maintenance window ending) changes the row too.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test.html import Element
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.maintenance import MaintenanceWindow
from instances.models import Instance, Status
from instances.overview_refresh import RenderedRow, refresh, rendered
from tests.instances.support import NOW, attr, find, find_all, text

pytestmark = pytest.mark.django_db


def version_of_page(client, url: str = "/") -> str:
    return attr(find(client.get(url).content, "class", "live-body"), "data-version")


def partial(client, version: str, query: str = "") -> bytes:
    response = client.get(f"/frota/parcial?{query}{'&' if query else ''}versao={version}")
    assert response.status_code == 200
    return b"<div>" + response.content + b"</div>"  # parse_html makes a lone element the root, out of find's reach


def changed_rows(content: bytes) -> list[Element]:
    """The rows a diff sends: those inside ``<template id="fleet-changes">``."""
    template = find(content, "id", "fleet-changes")
    return [child for child in template.children if isinstance(child, Element) and attr(child, "data-instance")]


def mode(content: bytes) -> str:
    return attr(find(content, "class", "live-body"), "data-mode")


def many(count: int, **fields) -> list[Instance]:
    now = timezone.now()
    return Instance.objects.bulk_create(
        Instance(
            name=f"q-{n:04}",
            phone_number=f"55119{n:08}",
            status=Status.CONNECTED,
            capacity_per_hour=20,
            capacity_per_day=100,
            last_read_at=now,
            **fields,
        )
        for n in range(count)
    )


def test_a_refresh_with_the_current_version_sends_only_the_ten_changed_rows(as_viewer) -> None:
    many(300)
    version = version_of_page(as_viewer)
    changed = Instance.objects.filter(name__in=[f"q-{n:04}" for n in range(0, 300, 30)])
    for instance in changed:
        instance.record_sent(count=4)

    content = partial(as_viewer, version)

    assert mode(content) == "diff"
    rows = changed_rows(content)
    assert sorted(attr(r, "data-instance") for r in rows) == sorted(i.name for i in changed)
    assert {text(r.children[3]) for r in rows} == {"4/20"}  # the new usage, not the old
    assert not find_all(content, "id", "fleet-table")  # the other 290 rows stay as they are
    assert text(find(content, "data-card", "sent-today")) == "40 mensagens enviadas hoje (de 30000)"
    assert len(content) < 12 * 1024  # the summary and 10 rows; the 300 rows whole weigh about 220 KiB


def test_a_refresh_with_nothing_changed_sends_the_summary_and_no_row(as_viewer) -> None:
    many(20)
    version = version_of_page(as_viewer)

    content = partial(as_viewer, version)

    assert mode(content) == "diff"
    assert changed_rows(content) == []
    assert attr(find(content, "class", "live-body"), "data-version") == version
    assert text(find(content, "id", "fleet-status")) == "Saudável 20 de 20 online"


@pytest.mark.parametrize("version", ["0123456789abcdef0123", "", "não-é-versão", "x" * 65])
def test_an_unknown_or_malformed_version_gets_every_row(as_viewer, version) -> None:
    many(20)

    content = partial(as_viewer, version)

    assert mode(content) == "full"
    assert len(find_all(content, "data-instance")) == 20


def test_a_row_that_becomes_a_problem_moves_first_and_says_which_row_it_follows(as_viewer) -> None:
    many(5)
    version = version_of_page(as_viewer)
    Instance.objects.get(name="q-0003").record_status(Status.DISCONNECTED, "conexão encerrada (428)")

    rows = changed_rows(partial(as_viewer, version))

    assert [(attr(r, "data-instance"), attr(r, "data-status"), attr(r, "data-after")) for r in rows] == [
        ("q-0003", "disconnected", "")  # first: the table's one problem
    ]


def test_a_row_gone_from_the_fleet_is_listed_as_removed(as_viewer) -> None:
    many(5)
    version = version_of_page(as_viewer)
    Instance.objects.filter(name="q-0002").update(is_active=False)

    content = partial(as_viewer, version)

    assert changed_rows(content) == []
    assert [attr(li, "data-instance") for li in find_all(content, "data-instance")] == ["q-0002"]
    assert find(content, "id", "fleet-removed")


def test_a_reading_going_stale_changes_its_row_though_nothing_was_written(as_viewer) -> None:
    many(3)
    Instance.objects.filter(name="q-0001").update(last_read_at=NOW - timedelta(seconds=170))
    Instance.objects.exclude(name="q-0001").update(last_read_at=NOW)
    with time_machine.travel(NOW, tick=False):
        version = version_of_page(as_viewer)
    with time_machine.travel(NOW + timedelta(seconds=15), tick=False):
        rows = changed_rows(partial(as_viewer, version))

    assert [(attr(r, "data-instance"), attr(r, "data-status")) for r in rows] == [("q-0001", "unknown")]
    assert text(rows[0].children[1]) == "❓ Desconhecida sem leitura desde 14:27"


def test_a_maintenance_window_ending_changes_its_row(as_viewer) -> None:
    many(3)
    Instance.objects.update(last_read_at=NOW + timedelta(minutes=31))  # fresh all along
    covered = Instance.objects.get(name="q-0002")
    with time_machine.travel(NOW, tick=False):
        MaintenanceWindow.schedule(ends_at=NOW + timedelta(minutes=30), reason="Troca de chip", instances=[covered])
    with time_machine.travel(NOW + timedelta(minutes=29), tick=False):
        version = version_of_page(as_viewer)
        assert "em manutenção até 15:00" in text(find(as_viewer.get("/").content, "data-instance", "q-0002"))
    with time_machine.travel(NOW + timedelta(minutes=31), tick=False):
        rows = changed_rows(partial(as_viewer, version))

    assert [attr(r, "data-instance") for r in rows] == ["q-0002"]
    assert "manutenção" not in text(rows[0])


def test_a_forecast_that_only_moved_with_the_clock_is_sent_alone_not_its_row(as_viewer, make_instance) -> None:
    hot = make_instance("zap-hot", last_read_at=NOW + timedelta(hours=1))
    make_instance("zap-idle", last_read_at=NOW + timedelta(hours=1))
    hot.record_sent(count=48, at=NOW - timedelta(hours=3))
    hot.record_sent(count=12, at=NOW - timedelta(minutes=10))
    with time_machine.travel(NOW, tick=False):
        page = as_viewer.get("/").content
        version = version_of_page(as_viewer)
    assert "limite diário às 16:50" in text(find(page, "data-instance", "zap-hot"))
    with time_machine.travel(NOW + timedelta(minutes=4), tick=False):  # within the 5 minutes a version is kept
        content = partial(as_viewer, version)

    assert changed_rows(content) == []  # the row itself did not change: its age is said by the page
    patches = find(content, "id", "fleet-forecasts").children
    assert [(attr(li, "data-instance"), text(li)) for li in patches] == [("zap-hot", "limite diário às 16:56")]
    assert len(content) < 4 * 1024


# --- The protocol itself: applying diffs, as fleet.js does, always rebuilds the table ----------------


Shown = dict[str, tuple[bytes, str]]  # what a page shows of each row: its digest and its forecast


def apply(table: list[str], shown: Shown, sent) -> list[str]:
    """Apply a diff to a table of names the way fleet.js does; return the new table."""
    changed = {c.row.name for c in sent.changed}
    rows = [name for name in table if name not in changed and name not in sent.removed]
    for c in sent.changed:
        rows.insert(0 if not c.after else rows.index(c.after) + 1, c.row.name)
        shown[c.row.name] = (c.row.digest, c.row.forecast)
    for name, words in sent.forecasts:
        shown[name] = (shown[name][0], words)
    return rows


STATUSES = st.sampled_from(["a-banned", "b-down", "c-unknown", "z-connected"])
FLEETS = st.dictionaries(st.sampled_from([f"n{i:02}" for i in range(12)]), STATUSES, min_size=1)


def table(fleet: dict[str, str], tick: int) -> list[RenderedRow]:
    """Rows in the overview's order: by status, then name; ``tick`` stands for what time changes
    (a row's content for names ending in 7, a forecast for names ending in 3 or 4)."""
    ordered = sorted(fleet, key=lambda name: (fleet[name], name))
    rows = []
    for name in ordered:
        skeleton = f"<tr>{name} {fleet[name]} {tick if name.endswith('7') else ''}</tr>"
        forecast = f"limite às {tick}" if name[-1] in "34" and tick % 3 else ""
        rows.append(rendered(name, skeleton + forecast, stable=skeleton, forecast=forecast))
    return rows


@settings(max_examples=80, deadline=None)
@given(first=FLEETS, then=st.lists(st.tuples(FLEETS, st.booleans()), min_size=1, max_size=6))
def test_a_page_that_applies_each_refresh_shows_what_a_full_render_shows(first, then) -> None:
    rows = table(first, 0)
    sent = refresh(rows, "")
    on_screen, version = [r.name for r in rows], sent.version
    shown: Shown = {r.name: (r.digest, r.forecast) for r in rows}
    for tick, (fleet, time_passed) in enumerate(then, start=1):
        rows = table(fleet, tick if time_passed else 0)
        sent = refresh(rows, version)
        if sent.full:
            on_screen, shown = [r.name for r in rows], {r.name: (r.digest, r.forecast) for r in rows}
        else:
            on_screen = apply(on_screen, shown, sent)
        version = sent.version
        assert on_screen == [r.name for r in rows]
        assert [shown[name] for name in on_screen] == [(r.digest, r.forecast) for r in rows]


def test_when_an_unchanged_row_moves_the_whole_table_is_sent() -> None:
    """Placing changed rows cannot rebuild an order where an unchanged row moved: send everything."""
    before = [rendered("a", "<tr>a</tr>"), rendered("b", "<tr>b</tr>"), rendered("c", "<tr>c</tr>")]
    version = refresh(before, "").version

    sent = refresh([before[2], before[0], before[1]], version)

    assert sent.full
