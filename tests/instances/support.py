"""What the fleet's tests import: the simulator's key, a fleet row by name, the pages' moment and HTML reading."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.test.html import Element, parse_html

from instances.fleet_rows import MOMENT_FIELDS, VALUE_FIELDS
from instances.models import Instance

API_KEY = "simulator-key"  # what the gateway simulator expects in these tests

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=SP)


def as_read(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Return the overview's values with their moments as datetimes (PostgreSQL's come as text)."""
    moments = [VALUE_FIELDS.index(name) for name in MOMENT_FIELDS]
    read = []
    for row in rows:
        values = list(row)
        for index in moments:
            if isinstance(values[index], str):
                values[index] = datetime.fromisoformat(values[index])
        read.append(tuple(values))
    return read


# --- A few helpers to read the HTML like a person would ---------------------------------------


def walk(node: Element) -> Iterator[Element]:
    for child in node.children:
        if isinstance(child, Element):
            yield child
            yield from walk(child)


def find_all(content: bytes, attr: str, value: str | None = None) -> list[Element]:
    root = parse_html(content.decode())
    return [el for el in walk(root) if any(k == attr and (value is None or v == value) for k, v in el.attributes)]


def find_all_in(node: Element, attr: str) -> list[Element]:
    return [el for el in walk(node) if any(k == attr for k, _v in el.attributes)]


def find(content: bytes, attr: str, value: str | None = None) -> Element:
    found = find_all(content, attr, value)
    assert found, f"no element with {attr}={value!r}"
    return found[0]


def text(node: Element | str) -> str:
    if isinstance(node, str):
        return node
    return " ".join(" ".join(text(child) for child in node.children).split())


def attr(node: Element, name: str, default: str | None = None) -> str | None:
    return dict(node.attributes).get(name, default)


def instance(name: str) -> Instance:
    """The row as the database holds it now."""
    return Instance.objects.get(name=name)
