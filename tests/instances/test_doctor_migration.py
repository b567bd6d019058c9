"""A banned number's doctors move to healthy numbers with room; drain and undo by hand; the API lists them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from alerts.choices import EventKind, Rule
from alerts.models import Alert
from alerts.rules import evaluate
from instances.doctor_moves import Target, describe, share
from instances.models import Doctor, DoctorMove, Instance, MigrationBatch, Status, StatusChange, UsageBucket, hour_start

NOW = datetime.fromisoformat("2026-11-30T15:20:00-03:00")
SOURCE = "julia-sp-01"
# name → (capacity per day, messages today, doctors already on it): with 2 messages a doctor a
# day, the room in doctors is 100, 20, 10, 0 (full), 10, 0 (1 message left), 5.
HEALTHY = {
    "t-a": (200, 0, 0),
    "t-b": (60, 20, 0),
    "t-c": (40, 0, 10),
    "t-d": (100, 100, 0),
    "t-e": (20, 0, 0),
    "t-i": (31, 30, 0),
    "t-j": (10, 0, 0),
}
INELIGIBLE = ("t-f-offline", "t-g-stale", "t-h-flapping")


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def _used_today(instance: Instance, count: int) -> None:
    if count:
        UsageBucket.objects.create(instance=instance, hour=hour_start(timezone.now()), count=count)


@pytest.fixture
def fleet(frozen: None, make_instance: Callable[..., Instance]) -> dict[str, Instance]:
    now = timezone.now()
    source = make_instance(
        SOURCE, status=Status.BANNED, status_since=now - timedelta(minutes=1), last_seen_connected_at=now
    )
    # 1,400 messages in 7 days = 200 a day, for 100 doctors: 2 per doctor per day.
    UsageBucket.objects.create(instance=source, hour=hour_start(now - timedelta(days=2)), count=1400)
    Doctor.objects.bulk_create(Doctor(name=f"Dr. {i:03}", preferred_instance=source) for i in range(100))
    made = {SOURCE: source}
    for name, (capacity, used, assigned) in HEALTHY.items():
        made[name] = make_instance(name, capacity_per_day=capacity, last_seen_connected_at=now)
        _used_today(made[name], used)
        Doctor.objects.bulk_create(Doctor(name=f"{name} {i}", preferred_instance=made[name]) for i in range(assigned))
    made["t-f-offline"] = make_instance("t-f-offline", status=Status.DISCONNECTED, capacity_per_day=1000)
    made["t-g-stale"] = make_instance("t-g-stale", capacity_per_day=1000, last_read_at=now - timedelta(hours=1))
    made["t-h-flapping"] = make_instance("t-h-flapping", capacity_per_day=1000, last_seen_connected_at=now)
    for minutes in (3, 6, 9):
        StatusChange.objects.create(
            instance=made["t-h-flapping"],
            old_status=Status.CONNECTED,
            new_status=Status.CONNECTING,
            created_at=now - timedelta(minutes=minutes),
        )
    return made


def moved_to() -> Counter[str]:
    return Counter(DoctorMove.objects.filter(undo=False).values_list("to_instance__name", flat=True))


def ban_alert() -> Alert:
    return Alert.objects.get(rule=Rule.INSTANCE_BANNED)


@pytest.mark.django_db
def test_a_ban_moves_everyone_who_fits_by_spare_room_and_the_alert_says_so(
    fleet: dict[str, Instance], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="instances.doctor_moves")
    evaluate()

    expected = {"t-a": 69, "t-b": 14, "t-c": 7, "t-e": 7, "t-j": 3}
    assert moved_to() == expected
    assert not Doctor.objects.filter(preferred_instance=fleet[SOURCE]).exists()
    for name in ("t-d", "t-i", *INELIGIBLE):
        assert not DoctorMove.objects.filter(to_instance__name=name).exists(), name
    for instance in Instance.objects.filter(name__in=HEALTHY).with_usage():
        assigned = instance.doctors.count()
        assert max(instance.msgs_day, assigned * 2) <= instance.capacity_per_day, instance.name
    alert = ban_alert()
    assert alert.message.startswith(
        f"A instância '{SOURCE}' foi banida pelo WhatsApp. Médicos estão sendo migrados: "
        "100 movidos para t-a (69), t-b (14), t-c (7), t-e (7) e t-j (3). "
        f"{SOURCE} (5511999990001), banida desde"
    )
    assert "Precisa de revisão manual" in alert.message
    events = list(alert.events.filter(kind=EventKind.DOCTORS_MIGRATED).values_list("detail", flat=True))
    assert events == ["Médicos migrados (banida): 100 movidos para t-a (69), t-b (14), t-c (7), t-e (7) e t-j (3)"]

    # Evaluating again (the next cycle, a webhook) moves nobody twice and tells nothing twice.
    evaluate()
    evaluate(timezone.now() + timedelta(seconds=1))
    assert MigrationBatch.objects.count() == 1
    assert DoctorMove.objects.count() == 100
    assert ban_alert().events.filter(kind=EventKind.DOCTORS_MIGRATED).count() == 1
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("doctor migration:")]
    assert len(logged) == 1 and "100 moved" in logged[0] and "0 stranded" in logged[0]


@pytest.mark.django_db
def test_doctors_without_room_stay_and_are_counted(frozen: None, make_instance: Callable[..., Instance]) -> None:
    now = timezone.now()
    source = make_instance(SOURCE, status=Status.BANNED, last_seen_connected_at=now)
    Doctor.objects.bulk_create(Doctor(name=f"Dr. {i}", preferred_instance=source) for i in range(5))
    make_instance("julia-rj-02", capacity_per_day=2, last_seen_connected_at=now)

    evaluate()

    assert Doctor.objects.filter(preferred_instance=source).count() == 3
    assert Doctor.objects.filter(preferred_instance__name="julia-rj-02").count() == 2
    assert "Médicos estão sendo migrados: 2 movidos para julia-rj-02 (2); 3 sem destino" in ban_alert().message


@pytest.mark.django_db
def test_a_ban_without_doctors_says_so(frozen: None, make_instance: Callable[..., Instance]) -> None:
    make_instance(SOURCE, status=Status.BANNED, last_seen_connected_at=timezone.now())
    evaluate()
    assert f"foi banida pelo WhatsApp. Nenhum médico atribuído a migrar. {SOURCE}" in ban_alert().message


@pytest.mark.django_db
def test_with_migration_off_nobody_moves_and_the_alert_claims_nothing(
    fleet: dict[str, Instance], settings: Any
) -> None:
    settings.MIGRATE_DOCTORS_ON_BAN = False
    evaluate()
    assert not DoctorMove.objects.exists()
    assert Doctor.objects.filter(preferred_instance=fleet[SOURCE]).count() == 100
    assert "migrad" not in ban_alert().message
    assert "Médicos" not in ban_alert().message


def test_shares_never_exceed_a_targets_room() -> None:
    targets = [Target(1, "a", 3), Target(2, "b", 1), Target(3, "c", 0)]
    assert share(10, targets) == {1: 3, 2: 1}
    assert share(2, targets) == {1: 2}
    assert sum(share(3, [Target(1, "a", 2), Target(2, "b", 2), Target(3, "c", 2)]).values()) == 3


@pytest.mark.django_db
def test_undo_puts_back_those_still_where_the_batch_put_them(fleet: dict[str, Instance], as_operator: Client) -> None:
    evaluate()
    batch = MigrationBatch.objects.get()
    # One doctor was moved on since: the undo leaves him where a person put him.
    moved_on = Doctor.objects.filter(preferred_instance__name="t-a").first()
    assert moved_on is not None
    Doctor.objects.filter(pk=moved_on.pk).update(preferred_instance=fleet["t-f-offline"])

    response = as_operator.post(f"/instancias/{SOURCE}/migracoes/{batch.pk}/desfazer")

    assert response.status_code == 302
    assert Doctor.objects.filter(preferred_instance=fleet[SOURCE]).count() == 99
    assert Doctor.objects.get(pk=moved_on.pk).preferred_instance == fleet["t-f-offline"]
    batch.refresh_from_db()
    assert batch.undone_at is not None and batch.undone_by is not None and batch.restored == 99
    assert DoctorMove.objects.filter(undo=True).count() == 99
    page = as_operator.get(f"/instancias/{SOURCE}/").content.decode()
    assert "desfeita em" in page and "99 devolvidos" in page
    # Undoing twice moves nobody again.
    as_operator.post(f"/instancias/{SOURCE}/migracoes/{batch.pk}/desfazer")
    assert DoctorMove.objects.filter(undo=True).count() == 99


@pytest.mark.django_db
def test_an_operator_drains_an_instance_from_its_page(
    fleet: dict[str, Instance], as_operator: Client, operator: Any
) -> None:
    Doctor.objects.filter(preferred_instance=fleet[SOURCE]).update(preferred_instance=fleet["t-j"])

    page = as_operator.get("/instancias/t-j/").content.decode()
    assert 'data-action="drain"' in page

    response = as_operator.post("/instancias/t-j/migrar", follow=True)

    batch = MigrationBatch.objects.get(instance=fleet["t-j"])
    assert batch.reason == "drenada" and batch.user == operator
    assert batch.reason_display == f"drenada por {operator.get_username()}"
    assert not DoctorMove.objects.exclude(to_instance__name__in=["t-a", "t-b", "t-c", "t-e"]).exists()
    assert batch.moved + batch.stranded == 100
    assert DoctorMove.objects.filter(reason=f"drenada por {operator.get_username()}").count() == batch.moved
    assert f"Migração de t-j: {batch.summary}." in response.content.decode()


@pytest.mark.django_db
def test_a_viewer_can_neither_drain_nor_undo(fleet: dict[str, Instance], as_viewer: Client) -> None:
    evaluate()
    batch = MigrationBatch.objects.get()
    before = list(Doctor.objects.order_by("pk").values_list("pk", "preferred_instance_id"))

    assert as_viewer.post("/instancias/t-a/migrar").status_code == 403
    assert as_viewer.post(f"/instancias/{SOURCE}/migracoes/{batch.pk}/desfazer").status_code == 403

    assert list(Doctor.objects.order_by("pk").values_list("pk", "preferred_instance_id")) == before
    assert MigrationBatch.objects.count() == 1
    page = as_viewer.get(f"/instancias/{SOURCE}/").content.decode()
    assert "Médicos migrados" in page and 'data-action="undo-migration"' not in page


@pytest.mark.django_db
def test_the_api_lists_and_pages_the_doctors(fleet: dict[str, Instance], api_client: Client) -> None:
    evaluate()

    first = api_client.get("/dashboard/medicos", {"instancia": "t-b", "por_pagina": 10}).json()
    second = api_client.get("/dashboard/medicos", {"instancia": "t-b", "por_pagina": 10, "pagina": 2}).json()

    assert first["total"] == 14 and len(first["medicos"]) == 10 and len(second["medicos"]) == 4
    doctor = first["medicos"][0]
    assert doctor["instancia"] == "t-b" and doctor["telefone"] == ""
    assert doctor["ultima_migracao"]["de"] == SOURCE and doctor["ultima_migracao"]["para"] == "t-b"
    assert doctor["ultima_migracao"]["motivo"] == "banida"
    everyone = api_client.get("/dashboard/medicos").json()
    assert everyone["total"] == 110 and everyone["por_pagina"] == 50
    missing = api_client.get("/dashboard/medicos", {"instancia": "nao-existe"})
    assert missing.status_code == 404 and missing.json() == {"detail": "Instância não encontrada"}


def test_the_summary_names_the_biggest_targets_and_counts_the_rest() -> None:
    moved = {f"julia-{i:02}": 10 + i for i in range(12)}
    said = describe(moved, 2)
    assert said.startswith("186 movidos para julia-11 (21), julia-10 (20),")
    assert said.endswith("julia-04 (14) e mais 4 instâncias (46); 2 sem destino (sem capacidade livre na frota)")
    assert describe({}, 0) == "Nenhum médico atribuído a migrar."
    assert describe({}, 3) == "nenhum movido; 3 sem destino (sem capacidade livre na frota)"


@pytest.mark.django_db
def test_with_nowhere_to_go_the_alert_does_not_claim_a_migration(
    frozen: None, make_instance: Callable[..., Instance]
) -> None:
    now = timezone.now()
    source = make_instance(SOURCE, status=Status.BANNED, last_seen_connected_at=now)
    Doctor.objects.bulk_create(Doctor(name=f"Dr. {i}", preferred_instance=source) for i in range(5))
    make_instance("julia-rj-02", status=Status.CONNECTING, capacity_per_day=1000)

    evaluate()

    assert Doctor.objects.filter(preferred_instance=source).count() == 5
    message = ban_alert().message
    assert "Nenhum dos 5 médicos atribuídos pôde ser migrado: sem capacidade livre na frota." in message
    assert "estão sendo migrados" not in message
