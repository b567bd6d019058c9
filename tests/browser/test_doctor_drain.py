"""Draining an instance's doctors from its page in a real browser: the button asks first."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from instances.models import Doctor, MigrationBatch, Status

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_drains_an_instance_after_confirming(page: Any, log_in: Any, make_instance: Any) -> None:
    now = timezone.now()
    source = make_instance("julia-sp-01", status=Status.DISCONNECTED, last_seen_connected_at=now)
    target = make_instance("julia-rj-02", capacity_per_day=1000, last_seen_connected_at=now)
    Doctor.objects.bulk_create(Doctor(name=f"Dr. {i}", preferred_instance=source) for i in range(3))
    log_in("operadora", perms=("migrate_doctors",))
    page.goto("/instancias/julia-sp-01/")

    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("[data-action=drain]")
    assert asked and "Migrar os 3 médicos de julia-sp-01" in asked[0]
    assert not MigrationBatch.objects.exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=drain]")
    page.wait_for_selector("#doctor-moves tr[data-batch]")

    assert Doctor.objects.filter(preferred_instance=target).count() == 3
    row = page.locator("#doctor-moves tr[data-batch]").first
    assert "drenada por operadora" in row.inner_text()
    assert "3 movidos para julia-rj-02 (3)" in row.inner_text()
    assert page.locator("[data-action=undo-migration]").count() == 1
