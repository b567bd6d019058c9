"""Which instances of the fleet to list: by shown status, by a search, a page at a time.

One filter for the API (``GET /dashboard/instances``) and the overview page, so both answer the
same question the same way:

- ``status``: one or several of the statuses as *shown* (a stale reading is ``unknown``), by
  repeating the parameter or separating them with commas; ``problemas`` means every status but
  ``connected``.
- ``busca``: case-insensitive part of the instance's name or of its number; a search made of
  phone characters ("+55 (11) 9999-0001") is compared digit by digit with the number.
- ``pagina`` (from 1) and ``por_pagina`` (1 to 1,000, 100 by default): a page past the last is
  empty, not an error (the totals still say how many there are).

It filters rows already read (``fleet_overview().instances``): the fleet's summary needs every
row anyway, and the shown status is worked out in Python at the overview's moment. Bad input
raises ``FleetQueryError`` with the field and a sentence in Portuguese.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ninja import Schema
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from instances.models import Status
from julia_monitor.lib.api_shapes import INVALID_CHARACTER, Linha, invalid_character_in

PROBLEMS = "problemas"
STATUS_VALUES: tuple[str, ...] = tuple(Status.values)
# What a status parameter may hold: the statuses, "problemas", commas between them.
STATUS_WORDS: tuple[str, ...] = (*STATUS_VALUES, PROBLEMS)
PER_PAGE_DEFAULT = 100
PER_PAGE_MAX = 1000
PAGE_MAX = 1_000_000
SEARCH_MAX_LENGTH = 100

# The schema's pattern for one ``status`` value (ECMA-262), e.g. "banned,disconnected".
_WORD = "(" + "|".join(STATUS_WORDS) + ")"
STATUS_PATTERN = f"^({_WORD}(,{_WORD})*)?$"

_PHONE_LIKE = re.compile(r"^[\d\s+().\-]*\d[\d\s+().\-]*$")
_NOT_A_DIGIT = re.compile(r"\D")


class FleetQueryError(ValueError):
    """A filter or page the fleet cannot be asked for; ``message`` is for people (pt-BR)."""

    def __init__(self, field: str, message: str, kind: str = "valor_invalido") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.kind = kind


class ListedInstance(Protocol):
    """What the filter reads of a row (``instances.fleet.InstanceUsage`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def phone_number(self) -> str: ...
    @property
    def shown_status(self) -> str: ...


Row = TypeVar("Row", bound=ListedInstance)


def parse_statuses(values: Iterable[str]) -> frozenset[str]:
    """Return the shown statuses asked for ("" and an empty list: every status).

    Each value may hold several, separated by commas; ``problemas`` stands for every status
    but connected.
    """
    statuses: set[str] = set()
    for value in values:
        if invalid_character_in(value):
            raise FleetQueryError("status", "status contém caracteres inválidos (controle ou NUL).", INVALID_CHARACTER)
        for word in value.split(",") if value else ():
            if word == PROBLEMS:
                statuses.update(s for s in STATUS_VALUES if s != Status.CONNECTED)
            elif word in STATUS_VALUES:
                statuses.add(word)
            else:
                raise FleetQueryError("status", f"status deve ser um destes: {', '.join(STATUS_WORDS)}.")
    return frozenset(statuses)


def parse_search(value: str | None) -> str:
    """Return the search text, stripped ("" for none)."""
    value = value or ""
    if invalid_character_in(value):
        raise FleetQueryError("busca", "busca contém caracteres inválidos (controle ou NUL).", INVALID_CHARACTER)
    if len(value) > SEARCH_MAX_LENGTH:
        raise FleetQueryError("busca", f"busca deve ter no máximo {SEARCH_MAX_LENGTH} caracteres.")
    return value.strip()


def _whole_number(field: str, value: int | str | None, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        if not value.strip().isascii() or not value.strip().isdigit():
            raise FleetQueryError(field, f"{field} deve ser um número inteiro de {low} a {high}.")
        value = int(value)
    if isinstance(value, bool) or not low <= value <= high:
        raise FleetQueryError(field, f"{field} deve ser um número inteiro de {low} a {high}.")
    return value


def parse_page(value: int | str | None) -> int:
    """Return the page number, from 1 (1 when not given)."""
    return _whole_number("pagina", value, 1, 1, PAGE_MAX)


def parse_per_page(value: int | str | None, default: int = PER_PAGE_DEFAULT) -> int:
    """Return the page size, 1 to PER_PAGE_MAX (``default`` when not given)."""
    return _whole_number("por_pagina", value, default, 1, PER_PAGE_MAX)


@dataclass(frozen=True)
class FleetPage(Generic[Row]):
    """One page of the filtered fleet and the totals behind it."""

    rows: list[Row]
    page: int
    per_page: int
    total: int  # rows matching the filter, on every page

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page)


@dataclass(frozen=True)
class FleetQuery:
    """A filter of the fleet and, when ``per_page`` is set, a page of it.

    Without a page (``per_page`` None), ``select`` lists every matching row: the API without
    ``pagina``/``por_pagina`` answers the whole (filtered) fleet, as the specification's body.
    """

    statuses: frozenset[str] = frozenset()
    search: str = ""
    page: int = 1
    per_page: int | None = None

    @classmethod
    def parse(
        cls,
        status: Iterable[str] = (),
        busca: str | None = None,
        pagina: int | str | None = None,
        por_pagina: int | str | None = None,
        default_per_page: int | None = None,
    ) -> FleetQuery:
        """Return the query for the parameters as a client sent them; raise FleetQueryError.

        A page is asked for when ``pagina`` or ``por_pagina`` is given, and always by a caller
        with a page size of its own (``default_per_page``: the overview's); the API has none.
        """
        paged = default_per_page is not None or pagina not in (None, "") or por_pagina not in (None, "")
        per_page = parse_per_page(por_pagina, default_per_page or PER_PAGE_DEFAULT) if paged else None
        return cls(
            statuses=parse_statuses(status),
            search=parse_search(busca),
            page=parse_page(pagina),
            per_page=per_page,
        )

    @property
    def filters(self) -> bool:
        """Return True when the query leaves some instances out (a status or a search)."""
        return bool(self.statuses or self.search)

    def matches(self, row: ListedInstance) -> bool:
        if self.statuses and row.shown_status not in self.statuses:
            return False
        return not self.search or _found(self.search, row)

    def select(self, rows: Sequence[Row]) -> FleetPage[Row]:
        """Return the page of ``rows`` (in their order) that match; every match without a page."""
        matching = [r for r in rows if self.matches(r)] if self.filters else list(rows)
        if self.per_page is None:
            return FleetPage(matching, 1, max(len(matching), 1), len(matching))
        start = (self.page - 1) * self.per_page
        return FleetPage(matching[start : start + self.per_page], self.page, self.per_page, len(matching))


def _found(search: str, row: ListedInstance) -> bool:
    needle = search.casefold()
    if needle in row.name.casefold() or needle in row.phone_number.casefold():
        return True
    if _PHONE_LIKE.match(search):
        digits = _NOT_A_DIGIT.sub("", search)
        return digits in _NOT_A_DIGIT.sub("", row.phone_number)
    return False


# --- The API's form of the same parameters ------------------------------------------------------


class FiltroFrota(Schema):
    """The optional filters and page of ``GET /dashboard/instances`` (``instances.fleet_filters``)."""

    status: list[str] = Field(
        default_factory=list,
        description=f"Status exibido ({', '.join(STATUS_WORDS)}); repita o parâmetro ou separe por vírgulas. "
        "`problemas`: todos menos connected.",
        json_schema_extra={"items": {"type": "string", "pattern": STATUS_PATTERN}},
    )
    # The length is checked by search_text (in Portuguese); the schema says it to clients.
    busca: Linha | None = Field(
        None,
        description="Parte do nome ou do número (sem diferenciar maiúsculas)",
        json_schema_extra={"maxLength": SEARCH_MAX_LENGTH},
    )
    pagina: int | None = Field(None, ge=1, le=PAGE_MAX, description="Página, a partir de 1")
    por_pagina: int | None = Field(None, ge=1, le=PER_PAGE_MAX, description="Instâncias por página (padrão 100)")

    @field_validator("status")
    @classmethod
    def known_statuses(cls, value: list[str]) -> list[str]:
        try:
            parse_statuses(value)
        except FleetQueryError as refused:
            raise PydanticCustomError(refused.kind, refused.message) from None
        return value

    @field_validator("busca")
    @classmethod
    def search_text(cls, value: str | None) -> str | None:
        try:
            parse_search(value)
        except FleetQueryError as refused:
            raise PydanticCustomError(refused.kind, refused.message) from None
        return value
