"""The cycle's writes in bulk, over real HTTP: a discovery or a mass drop costs the same few queries
for 20 rows or 200, records every first status and every change, and a batch the database refuses
is retried row by row so only the bad row is lost.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.choices import Rule
from alerts.models import Alert
from alerts.rules import evaluate
from instances.checks import CycleSummary, run_cycle
from instances.models import CheckCycle, Instance, Status, StatusChange
from tests.instances.support import instance


@pytest.fixture
def gateway(gateway, settings) -> object:
    """The simulator with room for hundreds of probes on a loaded machine: nothing hangs here, and
    a healthy probe missing a short timeout would make a change the test expects go missing."""
    settings.EVOLUTION_TIMEOUT = 10.0
    return gateway


def names(count: int) -> list[str]:
    return [f"sim-{i:03d}" for i in range(1, count + 1)]


def discovery(gateway, count: int, banned: int = 0) -> tuple[CycleSummary, int]:
    """Forget every instance here and on the gateway, list ``count`` new ones (the first ``banned``
    of them closed by a ban), run a cycle; return it and its number of queries."""
    Instance.objects.all().delete()
    gateway.forget_all()
    for i, name in enumerate(names(count)):
        if i < banned:
            gateway.add_instance(name, state="close", disconnection_code=403)
        else:
            gateway.add_instance(name, state="open")
    with CaptureQueriesContext(connection) as queries:
        summary = run_cycle()
    return summary, len(queries)


def assert_grows_by_batches_at_most(small: int, large: int) -> None:
    """On PostgreSQL the same count; SQLite takes at most 999 parameters a statement, so Django
    itself splits an INSERT or UPDATE there every 50 rows or so: a few more, never one per row."""
    if connection.vendor == "postgresql":
        assert large == small
    else:
        assert small <= large <= small + 12


@pytest.mark.django_db
def test_a_discovery_writes_200_new_instances_in_as_few_queries_as_20(gateway) -> None:
    discovery(gateway, 5)  # the first cycle ever also creates the lease row

    _small, small = discovery(gateway, 20, banned=2)
    summary, large = discovery(gateway, 200, banned=20)

    assert_grows_by_batches_at_most(small, large)
    assert large < 40  # one by one it took seven queries an instance
    assert summary.discovered == 200
    assert (summary.online, len(summary.changes), summary.record_errors) == (180, 200, {})


@pytest.mark.django_db
def test_each_new_instance_gets_its_first_status_and_its_history_row_as_the_cycle_saw_it(gateway) -> None:
    summary, _queries = discovery(gateway, 60, banned=6)

    assert summary.cycle is not None
    started = summary.cycle.started_at
    rows = list(Instance.objects.order_by("name"))
    assert [(i.status, i.status_since, i.last_read_at) for i in rows] == [
        (Status.BANNED if i < 6 else Status.CONNECTED, started, started) for i in range(60)
    ]
    assert [i.last_seen_connected_at for i in rows[6:]] == [started] * 54
    assert all(i.down_since == started and i.disconnection_code == 403 for i in rows[:6])
    history = StatusChange.objects.order_by("instance__name").values_list(
        "instance__name", "old_status", "new_status", "created_at"
    )
    assert list(history) == [
        (name, Status.UNKNOWN, Status.BANNED if i < 6 else Status.CONNECTED, started)
        for i, name in enumerate(names(60))
    ]
    assert sorted(change.instance.name for change in summary.changes) == names(60)


@pytest.mark.django_db
def test_the_alert_rules_see_new_instances_discovered_in_bulk(gateway) -> None:
    discovery(gateway, 40, banned=4)

    evaluate()

    banned = Alert.objects.filter(rule=Rule.INSTANCE_BANNED).values_list("instance__name", flat=True)
    assert sorted(banned) == names(4)
    # Never seen connected before the ban: new numbers, not outages.
    assert not Alert.objects.filter(rule=Rule.INSTANCE_OFFLINE).exists()


def connected_fleet(gateway, make_instance, count: int) -> list[str]:
    """``count`` instances connected here and open on the gateway, seen connected a minute ago."""
    seen = timezone.now() - timedelta(minutes=1)
    for name in names(count):
        gateway.add_instance(name, state="open")
        make_instance(name, status=Status.CONNECTED, last_seen_connected_at=seen)
    return names(count)


def mass_drop(gateway, fleet: list[str], dropping: int) -> tuple[CycleSummary, int]:
    """The first ``dropping`` numbers of ``fleet`` logged out at once (a gateway restart); run a cycle."""
    for name in fleet[:dropping]:
        gateway.set_state(name, "close", code=401)
    with CaptureQueriesContext(connection) as queries:
        summary = run_cycle()
    return summary, len(queries)


@pytest.mark.django_db
def test_300_numbers_dropping_at_once_are_recorded_in_as_few_queries_as_30(gateway, make_instance) -> None:
    fleet = connected_fleet(gateway, make_instance, 360)
    run_cycle()  # the lease row, and a quiet cycle

    # Both cycles leave sim-301 … sim-330 connected and read, and the others down.
    _small, small = mass_drop(gateway, fleet[330:], 30)
    StatusChange.objects.all().delete()
    summary, large = mass_drop(gateway, fleet, 300)

    assert_grows_by_batches_at_most(small, large)
    assert len(summary.changes) == 300
    history = StatusChange.objects.values_list("instance__name", "old_status", "new_status")
    assert sorted(history) == [(name, Status.CONNECTED, Status.DISCONNECTED) for name in fleet[:300]]
    assert all("401" in change.reason for change in StatusChange.objects.all())
    dropped = Instance.objects.filter(name__in=fleet[:300])
    assert {(i.status, i.disconnection_code, i.down_since) for i in dropped} == {
        (Status.DISCONNECTED, 401, summary.cycle.started_at if summary.cycle else None)
    }


@pytest.mark.django_db
def test_every_number_of_a_mass_drop_gets_its_offline_alert(gateway, make_instance) -> None:
    fleet = connected_fleet(gateway, make_instance, 330)

    mass_drop(gateway, fleet, 300)
    evaluate()

    offline = Alert.objects.filter(rule=Rule.INSTANCE_OFFLINE).values_list("instance__name", flat=True)
    assert sorted(offline) == fleet[:300]


# --- A batch the database refuses ----------------------------------------------------------------


def database_refuses(event: str, condition: str) -> None:
    """Make the database itself refuse an ``event`` (INSERT, UPDATE) of an instance row where
    ``condition`` holds: a real refusal, rolled back with the test."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_row BEFORE {event} ON instances_instance FOR EACH ROW "
                f"WHEN ({condition}) EXECUTE FUNCTION refuse_row()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_row BEFORE {event} ON instances_instance FOR EACH ROW "
                f"WHEN {condition} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )


@pytest.mark.django_db
def test_a_new_instance_the_database_refuses_costs_only_itself(gateway) -> None:
    discovery(gateway, 5)
    database_refuses("INSERT", "NEW.name = 'sim-013'")

    summary, _queries = discovery(gateway, 30)

    assert summary.record_errors.keys() == {"sim-013"}
    assert summary.discovered == 29
    assert not Instance.objects.filter(name="sim-013").exists()
    assert Instance.objects.filter(status=Status.CONNECTED).count() == 29
    assert StatusChange.objects.count() == 29
    assert CheckCycle.objects.latest("started_at").record_errors == 1


@pytest.mark.django_db
def test_a_status_change_the_database_refuses_in_a_mass_drop_costs_only_itself(gateway, make_instance, caplog) -> None:
    fleet = connected_fleet(gateway, make_instance, 30)
    database_refuses("UPDATE", "NEW.name = 'sim-013' AND NEW.status <> OLD.status")

    summary, _queries = mass_drop(gateway, fleet, 30)

    assert summary.record_errors.keys() == {"sim-013"}
    assert instance("sim-013").status == Status.CONNECTED
    assert not StatusChange.objects.filter(instance__name="sim-013").exists()
    others = [name for name in fleet if name != "sim-013"]
    assert sorted(StatusChange.objects.values_list("instance__name", flat=True)) == others
    assert Instance.objects.filter(status=Status.DISCONNECTED).count() == 29
    assert len(summary.changes) == 29
    assert "retrying one by one" in caplog.text
    assert "1 erro ao gravar" in str(summary)


@pytest.mark.django_db
def test_a_disconnection_the_database_refuses_to_store_costs_only_itself(gateway, make_instance) -> None:
    fleet = connected_fleet(gateway, make_instance, 30)
    database_refuses("UPDATE", "NEW.name = 'sim-007' AND NEW.disconnection_code IS NOT NULL")

    summary, _queries = mass_drop(gateway, fleet, 30)

    assert set(summary.record_errors) == {"sim-007"}
    codes = dict(Instance.objects.values_list("name", "disconnection_code"))
    assert codes == {name: None if name == "sim-007" else 401 for name in fleet}
