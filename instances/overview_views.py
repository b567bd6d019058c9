"""The fleet overview at ``/`` and the part of it that refreshes itself (``/frota/parcial``).

Both read the same query string: ``status`` (a shown status, several with commas, or
``problemas``), ``busca`` (part of a name or number), ``pagina`` and ``por_pagina``. The partial
also reads ``versao``, the version of the table the page shows, and answers with the summary and
only the rows that changed since (``instances.overview_refresh``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from instances.fleet import status_label
from instances.fleet_filters import PROBLEMS, FleetQuery, FleetQueryError
from instances.models import status_emoji
from instances.overview_refresh import refresh, rendered
from instances.pages import NAME_SLOT, STATUS_ORDER, OverviewPage, overview_page
from instances.templatetags.fleet import instant, row_html, row_parts

FILTER_PARAMS = ("status", "busca", "por_pagina")
VERSION_MAX_LENGTH = 64
# The status filter's choices, the worst first as in the table.
STATUS_CHOICES: list[tuple[str, str]] = [
    ("", "Todos"),
    (PROBLEMS, "Problemas (não conectadas)"),
    *((status, status_label(status)) for status in sorted(STATUS_ORDER, key=STATUS_ORDER.__getitem__)),
]


@dataclass(frozen=True)
class StatusCount:
    """One shown status in the summary: how many instances show it, and the link that lists them."""

    status: str
    label: str
    emoji: str
    count: int
    href: str


def fleet_query(request: HttpRequest) -> FleetQuery:
    """Return the filter and page the query string asks for; raise FleetQueryError for bad values."""
    get = request.GET
    return FleetQuery.parse(
        status=get.getlist("status"),
        busca=get.get("busca"),
        pagina=get.get("pagina"),
        por_pagina=get.get("por_pagina"),
        default_per_page=settings.OVERVIEW_PER_PAGE,  # the page's own size, not the API's 100
    )


def _filter_params(request: HttpRequest) -> list[tuple[str, str]]:
    """Return the query string's filters (not the page), as given, for links that keep them."""
    return [(key, value) for key in FILTER_PARAMS for value in request.GET.getlist(key) if value]


def _page_links(request: HttpRequest, page: OverviewPage) -> dict[str, str]:
    base = reverse("fleet-overview")
    params = _filter_params(request)
    listing = page.listing

    def to(number: int) -> str:
        return f"{base}?{urlencode([*params, ('pagina', str(number))])}"

    links = {}
    if listing.page > 1:
        links["first"], links["previous"] = to(1), to(min(listing.page - 1, max(listing.pages, 1)))
    if listing.page < listing.pages:
        links["next"], links["last"] = to(listing.page + 1), to(listing.pages)
    return links


def _status_counts(page: OverviewPage) -> list[StatusCount]:
    base = reverse("fleet-overview")
    return [
        StatusCount(
            status, status_label(status), status_emoji(status), page.by_status.get(status, 0), f"{base}?status={status}"
        )
        for status in sorted(STATUS_ORDER, key=STATUS_ORDER.__getitem__)
    ]


def _status_choices(request: HttpRequest) -> tuple[list[tuple[str, str]], str]:
    """Return the status select's options and the chosen one (a combination a link sent is kept as is)."""
    chosen = ",".join(v for v in request.GET.getlist("status") if v)
    choices = list(STATUS_CHOICES)
    if chosen not in dict(choices):
        choices.append((chosen, chosen))
    return choices, chosen


def _live_context(request: HttpRequest, query: FleetQuery, known: str) -> dict:
    """Return what ``fleet/_overview_live.html`` needs: the page, and the rows to send since ``known``."""
    page = overview_page(query=query)
    now = page.overview.at
    # Reversed once, not per row: a thousand reverse() calls cost more than the query.
    instance_url = reverse("instance-detail", args=[NAME_SLOT])
    alert_log_url = reverse("alert-log")
    rows = []
    for row in page.rows:
        parts = row_parts(row, now, instance_url, alert_log_url)
        rows.append(rendered(row.name, parts.html, stable=parts.skeleton, forecast=parts.forecast))
    sent = refresh(rows, known)
    if sent.full:
        html = "".join(row.html for row in rows)
    else:
        by_name = {row.name: row for row in page.rows}
        html = "".join(row_html(by_name[c.row.name], now, instance_url, alert_log_url, c.after) for c in sent.changed)
    params = _filter_params(request)
    if query.page > 1:
        params.append(("pagina", str(query.page)))
    return {
        "page": page,
        "now": now,
        "now_instant": instant(now),  # what fleet.js counts the rows' ages from
        "refresh": sent,
        "rows_html": mark_safe(html),  # noqa: S308 - row_html escapes every value
        "refresh_query": urlencode(params),
        "pages": _page_links(request, page),
        "status_counts": _status_counts(page),
        "filtered": query.filters,
    }


def _bad_query(request: HttpRequest, error: FleetQueryError) -> HttpResponse:
    """The whole fleet, unfiltered, under a message saying what was wrong with the filter (400)."""
    context = _live_context(request, FleetQuery(per_page=settings.OVERVIEW_PER_PAGE), "")
    context.update(_form_context(request), error=error.message, refresh_query="", pages={})
    return render(request, "fleet/overview.html", context, status=400)


def _form_context(request: HttpRequest) -> dict:
    choices, chosen = _status_choices(request)
    return {
        "section": "fleet",
        "refresh_seconds": settings.OVERVIEW_REFRESH_SECONDS,
        "status_choices": choices,
        "status_chosen": chosen,
        "search": request.GET.get("busca", ""),
        "per_page": request.GET.get("por_pagina", ""),
    }


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    try:
        query = fleet_query(request)
    except FleetQueryError as error:
        return _bad_query(request, error)
    return render(request, "fleet/overview.html", {**_form_context(request), **_live_context(request, query, "")})


@login_required
@require_GET
@never_cache
def overview_partial(request: HttpRequest) -> HttpResponse:
    """The part of the overview that refreshes every few seconds (fleet.js applies it).

    With ``versao`` (the ``data-version`` of the table the page shows) it holds the summary and
    only the rows that changed since, each naming the row it follows, and the rows gone.
    """
    try:
        query = fleet_query(request)
    except FleetQueryError as error:
        return render(request, "fleet/_overview_error.html", {"error": error.message}, status=400)
    known = request.GET.get("versao", "")
    valid = len(known) <= VERSION_MAX_LENGTH and known.isascii() and known.isalnum()
    context = _live_context(request, query, known if valid else "")  # any other text: an unknown version
    return render(request, "fleet/_overview_live.html", context)
