"""Browser tests: real headless Chromium (Debian's) driven by Playwright against a live server.

They skip, with the reason, where Chromium or Playwright is missing; the rest of the suite runs.
Screenshots land in ``test-artifacts/screenshots/`` (not committed).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# The flags a closed network needs: no background calls home at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module at a time.

    Playwright's sync API keeps an event loop running in the test thread while it lives:
    Django must be told the ORM calls around it are plain synchronous code, and the loop must
    be gone before other modules run ``asyncio.run`` (the gateway client does).
    """
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"Chromium not installed ({CHROMIUM}); .ci/run installs it with apt")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page (desktop size) on the live server; screenshot kept after the test."""
    context = browser.new_context(base_url=live_server.url, locale="pt-BR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def log_in(page: Any, django_user_model: Any) -> Callable[..., Any]:
    """``log_in("operadora", perms=["change_alert"])``: create the user and log in through the form."""

    def do(username: str = "operadora", perms: tuple[str, ...] = ()) -> Any:
        from django.contrib.auth.models import Permission

        user = django_user_model.objects.create_user(username, password="senha-de-teste-123")
        user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
        page.goto("/entrar/")
        page.fill("#id_username", username)
        page.fill("#id_password", "senha-de-teste-123")
        page.click("button[type=submit]")
        return user

    return do
