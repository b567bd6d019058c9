"""Two workers migrating the same number at once move each doctor once (PostgreSQL row locks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from instances.doctor_moves import migrate, migrate_banned
from instances.models import Doctor, DoctorMove, Instance, MigrationBatch, MigrationReason, Status


def at_once(work: Callable[[], Any], workers: int = 3) -> None:
    barrier = threading.Barrier(workers)

    def run() -> None:
        barrier.wait()
        try:
            work()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.fixture
def banned_with_doctors(make_instance: Callable[..., Instance]) -> Instance:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite in-memory test databases serialise writers; the race needs PostgreSQL")
    now = timezone.now()
    source = make_instance("julia-sp-01", status=Status.BANNED, last_seen_connected_at=now)
    for name in ("julia-rj-02", "julia-sp-02"):
        make_instance(name, capacity_per_day=1000, last_seen_connected_at=now)
    Doctor.objects.bulk_create(Doctor(name=f"Dr. {i}", preferred_instance=source) for i in range(40))
    return source


@pytest.mark.django_db(transaction=True)
def test_evaluations_racing_on_one_ban_migrate_it_once(banned_with_doctors: Instance) -> None:
    at_once(migrate_banned)

    assert MigrationBatch.objects.count() == 1
    assert DoctorMove.objects.count() == 40
    assert not Doctor.objects.filter(preferred_instance=banned_with_doctors).exists()


@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_move_each_doctor_once(banned_with_doctors: Instance) -> None:
    source = Instance.objects.get(name="julia-rj-02")
    Doctor.objects.update(preferred_instance=source)

    at_once(lambda: migrate(Instance.objects.get(pk=source.pk), MigrationReason.DRAINED), workers=2)

    assert DoctorMove.objects.count() == 40
    assert sorted(MigrationBatch.objects.values_list("moved", flat=True)) == [0, 40]
    assert Doctor.objects.filter(preferred_instance__name="julia-sp-02").count() == 40
