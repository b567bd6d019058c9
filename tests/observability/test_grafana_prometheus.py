"""A real Prometheus scrapes the portal with the README's configuration and answers every panel of the dashboard."""

from __future__ import annotations

import html
import importlib.util
import sys
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.observability import dashboard
from tests.observability.prometheus import PrometheusServer, config_for, why_no_prometheus

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(bool(why_no_prometheus()), reason=why_no_prometheus() or "Prometheus is installed"),
]


# Families this fleet gives a series (known_fleet): their panels must draw something.
CORE = {
    "julia_instances",
    "julia_instance_status",
    "julia_instance_load_ratio",
    "julia_instance_messages_this_hour",
    "julia_instance_capacity_per_hour",
    "julia_instance_last_reading_age_seconds",
    "julia_alerts_open",
    "julia_notifications_pending",
    "julia_check_cycle_duration_seconds",
    "julia_check_cycle_probes_failed",
    "julia_check_cycle_gateway_ok",
    "julia_worker_up",
    "julia_task_queue_length",
}


def sampled_names(url: str, token: str) -> set[str]:
    """Return the names of the series the portal itself says it has, scraped straight from it."""
    answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {sample.name for family in text_string_to_metric_families(answer.text) for sample in family.samples}


@pytest.fixture
def prometheus(live_server, metrics_token: str, known_fleet) -> Iterator[PrometheusServer]:
    """Prometheus scraping the live portal every second, started once the fleet is in the database."""
    server = PrometheusServer(config_for(urlparse(live_server.url).netloc, metrics_token))
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


def test_prometheus_scrapes_the_portal_with_the_readme_configuration(prometheus, live_server):
    target = prometheus.wait_until_target_up()
    assert target["scrapeUrl"] == f"{live_server.url}/metrics"
    assert target["lastError"] == ""
    up = prometheus.api("query", query='up{job="julia-monitor"}')["result"]
    assert [sample["value"][1] for sample in up] == ["1"]


def test_every_panel_of_the_dashboard_answers_and_the_fleet_panels_show_the_fleet(
    prometheus, live_server, metrics_token
):
    prometheus.wait_until_target_up()
    sampled = sampled_names(live_server.url, metrics_token)
    assert sampled >= CORE
    answers = {}
    for query in dashboard.queries(dashboard.load()):
        data = prometheus.api("query", query=query.for_prometheus())
        assert data["resultType"] == "vector", query
        answers[query.for_prometheus()] = data["result"]
        # A panel whose every metric has a series at the portal must draw something.
        if query.metric_names() <= sampled:
            assert data["result"], f"{query.panel} ({query.ref}): {query.for_prometheus()} is empty"

    def values(expr: str, label: str) -> dict[str, float]:
        return {sample["metric"].get(label, ""): float(sample["value"][1]) for sample in answers[expr]}

    by_status = values("sum by (status) (julia_instances)", "status")
    assert by_status == {"connected": 1, "connecting": 0, "disconnected": 0, "banned": 1, "unknown": 1}
    sent = values('julia_instance_messages_this_hour{instance_name=~".*"}', "instance_name")
    assert sent == {"zap-01": 12, "zap-02": 0, "zap-03": 0}
    assert values('julia_instance_in_maintenance{instance_name=~".*"}', "instance_name")["zap-02"] == 1
    reading_ages = values('julia_instance_last_reading_age_seconds{instance_name=~".*"}', "instance_name")
    assert set(reading_ages) == {"zap-01", "zap-02"}, "an instance never read has no reading age"
    open_alerts = values("sum by (rule, severity) (julia_alerts_open)", "rule")
    assert open_alerts["instance_banned"] == 1


def test_the_instance_picker_lists_the_fleet(prometheus):
    prometheus.wait_until_target_up()
    variable = next(v for v in dashboard.load()["templating"]["list"] if v["name"] == "instance_name")
    (metric,) = dashboard.variable_metric_names(variable["definition"])
    names = prometheus.api("label/instance_name/values", **{"match[]": metric})
    assert names == ["zap-01", "zap-02", "zap-03"]


def test_the_preview_draws_every_panel_from_prometheus_and_says_it_is_not_grafana(prometheus, monkeypatch):
    prometheus.wait_until_target_up()
    spec = importlib.util.spec_from_file_location("grafana_preview", dashboard.DASHBOARD.parent / "preview.py")
    assert spec and spec.loader
    preview = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, preview)  # its dataclasses look their module up there
    spec.loader.exec_module(preview)
    board = dashboard.load()
    prometheus.wait_for_scrapes(3)  # so the lines have more than one point
    page = preview.render(board, preview.fetch(prometheus.url, board, minutes=1))
    assert "não é o Grafana" in page
    for panel in dashboard.panels(board):
        assert f">{html.escape(panel['title'])}</h" in page, panel["title"]
    assert "<polygon" in page, "the stacked fleet status is drawn"
    assert "<polyline" in page, "the per-instance lines are drawn"
    assert "zap-01 enviadas" in page and "gateway: fechado" in page
