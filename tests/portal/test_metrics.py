"""GET /metrics: what Prometheus reads about a known fleet, parsed by prometheus_client's own parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.tasks import async_task

from alerts.choices import RULE_SEVERITY, AlertState, Channel, NotificationKind, NotificationState, Rule, Severity
from alerts.maintenance import MaintenanceWindow
from alerts.models import ChannelStatus, Notification
from instances.models import CheckCycle, Instance, Status
from julia_monitor.lib.circuits import CircuitBreaker
from tests.portal.metrics_support import TOKEN, beat, failed_task, scrape, values

NOW = datetime(2026, 3, 10, 17, 30, tzinfo=UTC)  # 14:30 in São Paulo


@pytest.fixture
def known_fleet(make_instance, make_alert, settings) -> dict[str, Instance]:
    """Five active instances (one per shown status), usage, alerts, the outbox, a cycle, circuits, the worker."""
    settings.METRICS_TOKEN = TOKEN
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    with time_machine.travel(NOW, tick=False):
        fleet = {
            "zap-01": make_instance("zap-01", status=Status.CONNECTED, capacity_per_hour=20, capacity_per_day=100),
            "zap-02": make_instance("zap-02", status=Status.DISCONNECTED),
            "zap-03": make_instance("zap-03", status=Status.CONNECTING),
            "zap-04": make_instance("zap-04", status=Status.BANNED),
            # Connected by a reading long gone: shown unknown.
            "zap-05": make_instance("zap-05", status=Status.CONNECTED, last_read_at=NOW - timedelta(minutes=10)),
            "zap-06": make_instance("zap-06", status=Status.UNKNOWN, last_read_at=None),
        }
        make_instance("zap-99", is_active=False)
        fleet["zap-01"].record_sent(count=6)  # 6/20 this hour, 6/100 today: load 0.3
        fleet["zap-02"].record_sent(count=15, at=NOW - timedelta(hours=2))  # earlier today: 15/100
        ban = make_alert("zap-04")
        make_alert("zap-02", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, state=AlertState.RESOLVED)
        two_minutes_ago = NOW - timedelta(minutes=2)
        Notification.objects.create(
            alert=ban, channel=Channel.SLACK, kind=NotificationKind.FIRING, batch="b", created_at=two_minutes_ago
        )
        Notification.objects.create(
            alert=ban, channel=Channel.EMAIL, kind=NotificationKind.FIRING, batch="b", state=NotificationState.FAILED
        )
        Notification.objects.create(
            alert=ban, channel=Channel.LOG, kind=NotificationKind.FIRING, batch="b", state=NotificationState.SENT
        )
        started, finished = NOW - timedelta(seconds=42), NOW - timedelta(seconds=30)
        CheckCycle.objects.create(started_at=started, finished_at=finished, failures=2, gateway_ok=False)
        gateway = CircuitBreaker("gateway")
        gateway.record_failure("connection refused")
        gateway.record_failure("connection refused")
        ChannelStatus.objects.create(channel=Channel.SLACK, broken_at=NOW, broken_reason="404 no_service")
        MaintenanceWindow.schedule(ends_at=NOW + timedelta(hours=1), reason="Troca", instances=[fleet["zap-02"]])
        beat(NOW - timedelta(seconds=2))
    with time_machine.travel(NOW - timedelta(seconds=30), tick=False):
        async_task("math.floor", 1.5)  # queued 30 s ago, not taken
    failed_task(NOW - timedelta(minutes=10))
    failed_task(NOW - timedelta(hours=2))  # too long ago to count
    return fleet


@pytest.fixture
def families(client, known_fleet) -> dict:
    with time_machine.travel(NOW, tick=False):
        return scrape(client)


def test_every_contract_family_is_a_gauge(families) -> None:
    contract = {
        "julia_instances",
        "julia_instance_status",
        "julia_instance_load_ratio",
        "julia_instance_messages_this_hour",
        "julia_instance_messages_today",
        "julia_instance_capacity_per_hour",
        "julia_instance_capacity_per_day",
        "julia_instance_last_reading_age_seconds",
        "julia_instance_in_maintenance",
        "julia_alerts_open",
        "julia_notifications_pending",
        "julia_notifications_failed",
        "julia_notifications_oldest_pending_age_seconds",
        "julia_check_cycle_duration_seconds",
        "julia_check_cycle_last_finish_timestamp_seconds",
        "julia_check_cycle_probes_failed",
        "julia_check_cycle_gateway_ok",
        "julia_circuit_state",
        "julia_worker_up",
        "julia_worker_last_heartbeat_age_seconds",
        "julia_task_queue_length",
        "julia_task_queue_oldest_age_seconds",
        "julia_tasks_failed_last_hour",
        "julia_build_info",
    }

    assert set(families) == contract
    assert {f.type for f in families.values()} == {"gauge"}


def test_the_fleet_is_counted_by_shown_status(families) -> None:
    assert values(families["julia_instances"]) == {
        ("connected",): 1,
        ("connecting",): 1,
        ("disconnected",): 1,
        ("banned",): 1,
        ("unknown",): 2,  # a stale reading and no reading at all; the inactive one is left out
    }


def test_each_instance_has_its_status_as_a_state_set(families) -> None:
    shown = values(families["julia_instance_status"])

    assert len(shown) == 6 * 5
    assert {name: status for (name, status), v in shown.items() if v == 1} == {
        "zap-01": "connected",
        "zap-02": "disconnected",
        "zap-03": "connecting",
        "zap-04": "banned",
        "zap-05": "unknown",
        "zap-06": "unknown",
    }
    assert {tuple(sorted(s.labels)) for s in families["julia_instance_status"].samples} == {("instance_name", "status")}


def test_usage_load_and_capacity_are_the_dashboards_numbers(families) -> None:
    assert values(families["julia_instance_messages_this_hour"])[("zap-01",)] == 6
    assert values(families["julia_instance_messages_today"])[("zap-01",)] == 6
    assert values(families["julia_instance_messages_today"])[("zap-02",)] == 15
    assert values(families["julia_instance_messages_this_hour"])[("zap-02",)] == 0
    assert values(families["julia_instance_load_ratio"])[("zap-01",)] == pytest.approx(0.3)
    assert values(families["julia_instance_load_ratio"])[("zap-02",)] == pytest.approx(0.15)
    assert values(families["julia_instance_capacity_per_hour"])[("zap-01",)] == 20
    assert values(families["julia_instance_capacity_per_day"])[("zap-01",)] == 100


def test_the_reading_age_is_left_out_for_an_instance_never_read(families) -> None:
    ages = values(families["julia_instance_last_reading_age_seconds"])

    assert ages[("zap-01",)] == 0
    assert ages[("zap-05",)] == 600
    assert ("zap-06",) not in ages


def test_maintenance_marks_the_instances_it_covers(families) -> None:
    covered = values(families["julia_instance_in_maintenance"])

    assert covered[("zap-02",)] == 1
    assert sum(covered.values()) == 1


def test_open_alerts_list_every_rule_at_its_severity(families) -> None:
    alerts = values(families["julia_alerts_open"])

    assert set(alerts) == {(str(rule), str(severity)) for rule, severity in RULE_SEVERITY.items()}
    assert alerts[("instance_banned", "critical")] == 1
    assert alerts[("instance_offline", "error")] == 0  # resolved: not open
    assert sum(alerts.values()) == 1


def test_the_outbox_backlog_is_per_channel(families) -> None:
    assert values(families["julia_notifications_pending"]) == {("slack",): 1, ("email",): 0, ("log",): 0}
    assert values(families["julia_notifications_failed"]) == {("slack",): 0, ("email",): 1, ("log",): 0}
    assert values(families["julia_notifications_oldest_pending_age_seconds"]) == {
        ("slack",): 120,
        ("email",): 0,
        ("log",): 0,
    }


def test_the_last_cycle_is_described(families) -> None:
    assert values(families["julia_check_cycle_duration_seconds"]) == {(): 12}
    assert values(families["julia_check_cycle_last_finish_timestamp_seconds"]) == {(): NOW.timestamp() - 30}
    assert values(families["julia_check_cycle_probes_failed"]) == {(): 2}
    assert values(families["julia_check_cycle_gateway_ok"]) == {(): 0}


def test_circuits_are_state_sets(families) -> None:
    circuits = values(families["julia_circuit_state"])

    assert circuits == {
        ("gateway", "open"): 1,
        ("gateway", "closed"): 0,
        ("gateway", "half_open"): 0,
        ("slack", "open"): 1,
        ("slack", "closed"): 0,
        ("slack", "half_open"): 0,
    }


def test_the_worker_and_its_queue_are_described(families) -> None:
    assert values(families["julia_worker_up"]) == {(): 1}
    assert values(families["julia_worker_last_heartbeat_age_seconds"]) == {(): 2}
    assert values(families["julia_task_queue_length"]) == {(): 1}
    assert values(families["julia_task_queue_oldest_age_seconds"]) == {(): 30}
    assert values(families["julia_tasks_failed_last_hour"]) == {(): 1}
    assert values(families["julia_build_info"]) == {("0.1.0",): 1}


@pytest.mark.django_db
def test_an_empty_portal_still_answers_with_zeros(client, settings) -> None:
    settings.METRICS_TOKEN = TOKEN

    families = scrape(client)

    assert set(values(families["julia_instances"]).values()) == {0}
    assert values(families["julia_check_cycle_duration_seconds"]) == {}  # no cycle yet: nothing to say
    assert values(families["julia_worker_up"]) == {(): 0}
    assert values(families["julia_worker_last_heartbeat_age_seconds"]) == {}
    assert values(families["julia_circuit_state"])[("gateway", "closed")] == 1


def _queries_per_scrape(client, **headers: str) -> int:
    client.get("/metrics", **headers)  # a key's first use is recorded once a minute, as in the JSON API
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/metrics", **headers)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("by", ["token", "key"])
def test_a_scrape_costs_the_same_few_queries_for_3_and_for_50_instances(
    client, make_instance, make_alert, api_key, settings, by
) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"  # its circuit is read too
    headers = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN if by == 'token' else api_key}"}
    for n in range(3):
        make_instance(f"zap-{n:02}").record_sent(count=n + 1)
        make_alert(f"zap-{n:02}")
    small = _queries_per_scrape(client, **headers)
    for n in range(3, 50):
        make_instance(f"zap-{n:02}").record_sent(count=n + 1)
        make_alert(f"zap-{n:02}")
    MaintenanceWindow.schedule(
        ends_at=datetime.now(UTC) + timedelta(hours=1), reason="Troca", instances=Instance.objects.all()[:10]
    )

    large = _queries_per_scrape(client, **headers)

    print("QUERIES", by, small, large)
    assert small == large
    assert large <= 5


def test_the_metrics_say_what_the_dashboard_api_says(client, known_fleet, api_key) -> None:
    with time_machine.travel(NOW, tick=False):
        families = scrape(client)
        rows = client.get("/dashboard/instances", HTTP_X_API_KEY=api_key).json()["instancias"]

    shown = {name: status for (name, status), v in values(families["julia_instance_status"]).items() if v == 1}
    hour = values(families["julia_instance_messages_this_hour"])
    day = values(families["julia_instance_messages_today"])
    per_hour = values(families["julia_instance_capacity_per_hour"])
    per_day = values(families["julia_instance_capacity_per_day"])
    load = values(families["julia_instance_load_ratio"])
    for row in rows:
        name = (row["nome"],)
        assert shown[row["nome"]] == row["status"]
        assert row["msgs_hora"] == f"{hour[name]:.0f}/{per_hour[name]:.0f}"
        assert row["msgs_dia"] == f"{day[name]:.0f}/{per_day[name]:.0f}"
        assert row["carga"] == f"{load[name] * 100:.1f}%"
    assert len(rows) == len(shown) == 6
