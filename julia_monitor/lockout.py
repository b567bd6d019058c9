"""The page a locked-out login gets (django-axes calls ``locked_out`` instead of its English text)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def cooloff_minutes() -> int:
    """Return the lockout's length in whole minutes, rounded up."""
    seconds = settings.AXES_COOLOFF_TIME.total_seconds()
    return max(1, int(-(-seconds // 60)))


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """Render the lockout page, for the portal's login and the admin's alike.

    Every attempt during a lockout starts the cool-off again, so "N minutes" counts from now.
    """
    context = {"minutes": cooloff_minutes(), "username": (credentials or {}).get("username", "")}
    return render(request, "registration/locked_out.html", context, status=429)
