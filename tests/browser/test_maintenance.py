"""Maintenance in a real browser: an operator schedules a window from the instance page, and ends it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.maintenance import MaintenanceWindow
from instances.models import Status

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_schedules_maintenance_on_the_instance_page_and_ends_it(page, log_in, make_instance) -> None:
    make_instance("julia-rj-01", status=Status.CONNECTED, last_seen_connected_at=timezone.now())
    log_in("operadora", perms=("add_maintenancewindow", "change_maintenancewindow"))
    page.wait_for_url("**/")
    end = timezone.localtime() + timedelta(hours=2)

    page.goto("/instancias/julia-rj-01/")
    page.fill("#maintenance-end", end.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#maintenance-reason", "Troca de chip")
    page.click("#maintenance-form button[type=submit]")

    mark = page.wait_for_selector("#maintenance [data-field=maintenance]")
    window = MaintenanceWindow.objects.get()
    assert mark.inner_text().strip() == f"🔧 {window.until_label()}"  # "até 16:40" (São Paulo)
    assert window.ends_at == end.replace(second=0, microsecond=0)
    assert (window.reason, [i.name for i in window.instances.all()]) == ("Troca de chip", ["julia-rj-01"])

    page.click("#maintenance [data-action=end-window]")
    page.wait_for_selector("#maintenance [data-field=no-maintenance]")
    window.refresh_from_db()
    assert window.cancelled_at is not None
