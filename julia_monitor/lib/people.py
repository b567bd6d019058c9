"""Who is acting: the person behind a request that a login already let in."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


def signed_in_user(request: HttpRequest) -> User:
    """Return the person behind a request that a login already let in (a page, the admin, the API's session)."""
    user = request.user
    assert user.is_authenticated, "only behind login_required, the admin or the API's session auth"
    return user
