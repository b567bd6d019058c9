"""The address a request came from, for the login lockout: behind reverse proxies only as far as they are trusted."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """Return the client's address: the connection's, or the one the outermost trusted proxy saw.

    ``TRUSTED_PROXY_COUNT`` proxies each append the address they received the request from to
    X-Forwarded-For, so the client's is the Nth from the right; anything left of it was written
    by the client and may be forged. With no trusted proxy the header is never read.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count: int = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < count:
        # Fewer hops than proxies: the request did not come through all of them.
        return remote
    return forwarded[-count]
