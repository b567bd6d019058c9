"""The moments incidents are made of, end to end: simulated gateway → check cycle or webhook →
alert rules → a real local Slack, on a clock the test moves (debounce 60 s, see ``room``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.choices import AlertState, Resolution, Rule
from alerts.models import Alert
from instances.models import Instance, Status
from tests.alerts.control_room import ControlRoom

pytestmark = pytest.mark.django_db


# --- A gateway that forgets its fleet -----------------------------------------------------------


def test_a_gateway_that_forgets_its_fleet_reads_as_unknown_and_pages_the_fleet_down(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02", "zap-03")
    room.cycle()
    room.sim.forget_all()  # redeployed without its volume: fetchInstances [] and every probe a 404

    room.later(60).cycle()
    statuses = {i.name: (i.status, i.status_reason) for i in Instance.objects.all()}
    room.later(60).cycle()

    assert statuses == dict.fromkeys(
        ("zap-01", "zap-02", "zap-03"), (Status.UNKNOWN, "o gateway não lista mais esta instância")
    )
    urgent = room.urgent_posts()
    assert len(urgent) == 1 and "SISTEMA CRÍTICO" in urgent[0].text
    assert "Nenhuma instância WhatsApp está online! Mensagens não serão enviadas." in urgent[0].text
    # The per-instance alerts are recorded, but told inside the fleet alert, not one by one.
    assert not room.posts_saying("Instância zap-01 offline")


def test_a_gateway_that_answers_only_errors_is_the_fleet_going_dark(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    for name in ("zap-01", "zap-02"):
        room.sim.set_fault(name, "error_body")  # HTTP 200 with "error": true

    room.later(60).cycle()
    room.later(60).cycle()

    assert {room.status("zap-01"), room.status("zap-02")} == {Status.UNKNOWN}
    assert len(room.urgent_posts()) == 1


def test_one_number_whose_probe_keeps_failing_turns_unknown_once_its_reading_is_stale(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    room.sim.set_fault("zap-01", "not_found")  # listed, but its probe answers "does not exist"

    room.later(60).cycle()
    still_connected = room.status("zap-01")
    room.later(60).cycle()
    room.later(61).cycle()

    assert still_connected == Status.CONNECTED  # one failed probe is not a reading, nor an outage
    zap = Instance.objects.get(name="zap-01")
    assert zap.status == Status.UNKNOWN
    assert zap.status_reason.startswith("sem leitura desde ")
    assert "não existe no gateway" in zap.status_reason


# --- One outage per outage ----------------------------------------------------------------------


def test_reconnect_attempts_during_an_outage_neither_resolve_nor_restart_it(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    room.set_state("zap-01", "close")
    room.later(60).cycle()
    room.later(60).cycle()  # down for 60 s: the outage is posted

    for state in ("connecting", "close", "connecting", "close"):  # Evolution retrying, or Reconectar
        room.set_state("zap-01", state)
        room.later(60).cycle()

    assert len(room.posts_saying("Instância zap-01 offline")) == 1
    assert not room.posts_saying("Resolvido")
    assert room.open_alerts(Rule.INSTANCE_OFFLINE)[0].instance.name == "zap-01"

    room.set_state("zap-01", "open")
    room.later(60).cycle()
    assert len(room.posts_saying("✅ Resolvido: Instância zap-01 offline")) == 1


def test_a_number_bouncing_between_connecting_and_disconnected_pages(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    for state in ("close", "connecting", "close"):
        room.set_state("zap-01", state)
        room.later(30).cycle()  # never 60 s in one state, but 60 s out of connected

    assert len(room.posts_saying("Instância zap-01 offline")) == 1


def test_the_fleet_alert_does_not_resolve_while_every_number_is_still_down(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    for name in ("zap-01", "zap-02"):
        room.set_state(name, "close")
    room.later(60).cycle()
    room.later(60).cycle()

    room.set_state("zap-01", "connecting")
    room.later(60).cycle()
    room.set_state("zap-01", "close")
    room.later(60).cycle()

    assert len(room.urgent_posts()) == 1
    assert not room.posts_saying("Resolvido: SISTEMA CRÍTICO")
    assert not room.posts_saying("Instância zap-02 offline")  # still told inside the fleet alert


def test_a_banned_number_does_not_make_a_blip_of_the_others_page_everyone(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02", "zap-03")
    room.cycle()
    room.set_state("zap-03", "close", code=403)
    room.later(60).cycle()
    assert room.status("zap-03") == Status.BANNED

    room.set_state("zap-01", "close")
    room.set_state("zap-02", "close")
    room.later(60).cycle()  # every number down, for a moment
    room.set_state("zap-01", "open")
    room.set_state("zap-02", "open")
    room.later(3).cycle()

    assert room.urgent_posts() == []


# --- Bans a person can close --------------------------------------------------------------------


def test_a_ban_a_person_resolved_stays_resolved_while_the_same_ban_lasts(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    room.set_state("zap-01", "close", code=403)
    room.later(60).cycle()
    ban = room.open_alerts(Rule.INSTANCE_BANNED)[0]

    room.later(60).resolve(ban)
    for _ in range(3):
        room.later(60).cycle()

    assert len(room.posts_saying("Instância zap-01 BANIDA")) == 2  # the ban, and its resolution
    assert room.open_alerts(Rule.INSTANCE_BANNED) == []

    room.set_state("zap-01", "open")  # re-paired …
    room.later(60).cycle()
    room.set_state("zap-01", "close", code=403)  # … and banned again: a new ban
    room.later(60).cycle()
    assert len(room.open_alerts(Rule.INSTANCE_BANNED)) == 1
    assert len(room.posts_saying("🚨 Instância zap-01 BANIDA")) == 2


def test_a_ban_supersedes_the_offline_alert_and_says_so(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    room.set_state("zap-01", "close")
    room.later(60).cycle()
    room.later(60).cycle()

    room.set_state("zap-01", "close", code=403)
    room.later(60).cycle()

    offline = Alert.objects.get(rule=Rule.INSTANCE_OFFLINE)
    assert (offline.state, offline.resolution) == (AlertState.RESOLVED, Resolution.SUPERSEDED)
    told = room.posts[-1].text
    assert "Substituído: Instância zap-01 offline" in told and "BANIDA" in told  # one post says both
    assert not room.posts_saying("✅ Resolvido: Instância zap-01 offline")


def test_deactivating_a_down_number_closes_its_alerts_with_its_own_words(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    room.set_state("zap-01", "close")
    room.later(60).cycle()
    room.later(60).cycle()

    Instance.objects.filter(name="zap-01").update(is_active=False)
    room.later(60).cycle()

    assert Alert.objects.get(rule=Rule.INSTANCE_OFFLINE).resolution == Resolution.DEACTIVATED
    assert room.posts_saying("⏹️ Encerrado: Instância zap-01 offline (a instância foi desativada")
    assert not room.posts_saying("Resolvido")


# --- Clocks that disagree -----------------------------------------------------------------------


@pytest.mark.parametrize("skew_minutes", [-2, 2])
def test_a_ban_reads_as_a_ban_whatever_the_gateway_clock_says(room: ControlRoom, skew_minutes: int) -> None:
    room.sim.clock_offset = timedelta(minutes=skew_minutes)
    room.add("zap-01", "zap-02")
    room.cycle()

    room.set_state("zap-01", "close", code=403)
    room.later(20).cycle()

    assert room.status("zap-01") == Status.BANNED
    assert room.posts_saying("Instância zap-01 BANIDA")


@pytest.mark.parametrize("skew_minutes", [-2, 2])
def test_a_ban_webhook_dated_by_a_skewed_gateway_is_a_ban(room: ControlRoom, skew_minutes: int) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()

    gateway_time = room.later(20).now + timedelta(minutes=skew_minutes)
    room.webhook(
        "status.instance",
        "zap-01",
        status="closed",
        disconnectionReasonCode=403,
        disconnectionAt=gateway_time.isoformat(),
    )

    assert room.status("zap-01") == Status.BANNED
    assert room.posts_saying("Instância zap-01 BANIDA")


def test_an_old_ban_code_left_on_a_re_paired_number_is_not_its_reason_today(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.sim.instances["zap-01"].disconnection_code = 403  # banned once, months ago; re-paired since
    room.cycle()
    room.later(60).cycle()

    room.set_state("zap-01", "close")  # a plain drop, no code
    room.later(60).cycle()
    room.later(60).cycle()

    assert room.status("zap-01") == Status.DISCONNECTED
    offline = room.open_alerts(Rule.INSTANCE_OFFLINE)[0]
    assert "403" not in offline.message and "banid" not in offline.message
    assert room.open_alerts(Rule.INSTANCE_BANNED) == []


# --- Flapping -----------------------------------------------------------------------------------


def test_a_number_that_flaps_every_minute_is_told_once_as_unstable(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    for minute in range(8):  # open/close every minute: each drop shorter than the debounce
        room.set_state("zap-01", "close" if minute % 2 == 0 else "open")
        room.later(60).cycle()

    unstable = room.posts_saying("Instância zap-01 instável")
    assert len(unstable) == 1
    assert "caiu 3 vezes" in unstable[0].text
    assert not room.posts_saying("Instância zap-01 offline")

    room.set_state("zap-01", "open")
    for _ in range(16):  # a full window without a drop
        room.later(60).cycle()
    assert room.posts_saying("✅ Resolvido: Instância zap-01 instável")


# --- Alerts stay current ------------------------------------------------------------------------


def test_a_persisting_capacity_alert_quotes_the_load_now(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    zap = Instance.objects.get(name="zap-01")
    zap.record_sent(count=17, at=room.now)  # 85 % of 20 this hour
    room.cycle()
    zap.record_sent(count=2, at=room.now)  # 95 %
    room.later(60).cycle()

    alert = Alert.objects.get(rule=Rule.CAPACITY_HIGH)
    assert "95% de capacidade usada" in alert.message
    assert "85% de capacidade usada" in alert.events.order_by("created_at", "id").first().detail
    assert len(room.posts_saying("Capacidade alta: zap-01")) == 1  # rewritten, not re-posted


def test_a_reminder_quotes_the_alert_as_it_reads_now(room: ControlRoom, settings: object) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    room.set_state("zap-01", "close")
    room.later(60).cycle()
    room.later(60).cycle()
    room.set_state("zap-01", "connecting")
    room.later(60 * 60).cycle()  # the hourly reminder of an unacknowledged error

    reminder = room.posts_saying("Lembrete: Instância zap-01 offline")[0]
    assert "agora conectando" in reminder.text


# --- The gateway alert waits --------------------------------------------------------------------


def test_one_slow_fetch_instances_is_not_a_page(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    room.sim.set_gateway_fault("down")
    room.later(60).cycle()
    room.sim.set_gateway_fault(None)
    room.later(60).cycle()

    assert room.posts == []


def test_a_gateway_failing_past_the_alert_delay_pages_once(room: ControlRoom) -> None:
    room.add("zap-01", "zap-02")
    room.cycle()
    room.sim.set_gateway_fault("down")
    room.later(60).cycle()
    room.later(60).cycle()  # failing for 60 s: not yet
    quiet = list(room.posts)
    room.later(60).cycle()  # 120 s ≥ GATEWAY_ALERT_AFTER_SECONDS

    assert quiet == []
    assert len(room.posts_saying("Gateway Evolution inacessível")) == 1
