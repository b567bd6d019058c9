"""A database that cannot be reached is a clean 503 (retryable), never a 500 with a stack trace.

The fault itself (a real PostgreSQL restarted under traffic) is in tests/faults; here every
kind of client gets its form of the answer.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client

import instances.overview_views


def lost_database(*args: object, **kwargs: object) -> None:
    raise OperationalError("terminating connection due to administrator command")


@pytest.fixture
def database_lost_in_views(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instances.overview_views, "overview_page", lost_database)


def test_a_page_answers_503_in_portuguese_when_the_database_is_lost(
    as_viewer: Client, database_lost_in_views: None
) -> None:
    response = as_viewer.get("/", HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Banco de dados indisponível" in response.content.decode()


def test_a_client_that_does_not_ask_for_html_gets_503_json_with_a_detail(
    as_viewer: Client, database_lost_in_views: None
) -> None:
    response = as_viewer.get("/", HTTP_ACCEPT="application/json")

    assert response.status_code == 503
    assert response.json() == {"detail": "Banco de dados indisponível no momento; tente novamente em instantes."}


def test_other_errors_are_still_server_errors(as_viewer: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(instances.overview_views, "overview_page", bug)
    as_viewer.raise_request_exception = False

    assert as_viewer.get("/").status_code == 500
