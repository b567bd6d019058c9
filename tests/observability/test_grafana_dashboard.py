"""The Grafana dashboard in docs/grafana/ imports into Grafana and asks only for what /metrics really exposes."""

from __future__ import annotations

from itertools import combinations

import pytest
from django.test import Client
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.observability import dashboard
from tests.observability.prometheus import SCRAPE_CONFIG

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def board() -> dict:
    return dashboard.load()


def scrape(client: Client, token: str) -> list[Metric]:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.content
    return list(text_string_to_metric_families(answer.content.decode()))


def exposed_names(client: Client, token: str) -> set[str]:
    """Return the metric names a scrape of /metrics declares, parsed as Prometheus parses them.

    A family declared without a series (a worker that never beat has no heartbeat age) counts:
    the name is right, the series comes when there is something to say.
    """
    families = scrape(client, token)
    declared = {family.name for family in families if family.type in ("gauge", "unknown")}
    return declared | {sample.name for family in families for sample in family.samples}


def apart(a: dict, b: dict) -> bool:
    """Return True if two grid places share no cell (one is left of, right of, above or below the other)."""
    return (
        a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
    )


def test_it_is_a_dashboard_grafana_imports_asking_for_a_prometheus_datasource(board):
    assert board["__inputs"] == [
        {
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "description": board["__inputs"][0]["description"],
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }
    ]
    required = {(item["type"], item["id"]) for item in board["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["id"] is None, "an exported dashboard carries no database id"
    assert board["uid"] and board["title"]


def test_it_requires_every_panel_kind_it_uses(board):
    used = {panel["type"] for panel in dashboard.panels(board) if panel["type"] != "row"}
    required = {item["id"] for item in board["__requires"] if item["type"] == "panel"}
    assert used == required


def test_it_lets_the_viewer_pick_the_prometheus_and_the_instances(board):
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    source = variables["datasource"]
    assert source["type"] == "datasource" and source["query"] == "prometheus"
    assert source["current"]["value"] == "${DS_PROMETHEUS}", "the imported default is the datasource chosen on import"
    instances = variables["instance_name"]
    assert instances["type"] == "query" and instances["datasource"] == DATASOURCE
    assert instances["multi"] is True and instances["includeAll"] is True
    assert instances["allValue"] == ".*", "queries match $instance_name as a regular expression"
    assert instances["definition"] == "label_values(julia_instance_status, instance_name)"


def test_panels_have_unique_ids_and_places_that_do_not_overlap(board):
    panels = list(dashboard.panels(board))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        place = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= place.keys(), panel["title"]
        assert place["x"] >= 0 and place["w"] > 0 and place["x"] + place["w"] <= 24, panel["title"]
    for one, other in combinations(panels, 2):
        assert apart(one["gridPos"], other["gridPos"]), f"{one['title']!r} overlaps {other['title']!r}"


def test_every_panel_reads_the_chosen_datasource(board):
    for panel in dashboard.panels(board):
        if panel["type"] == "row":
            assert not panel.get("targets"), panel["title"]
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_the_metric_name_check_sees_through_functions_labels_and_variables():
    expr = (
        'sum by (rule) (rate(julia_alerts_opened_total{rule=~"$rule", x="a{b}"}[$__rate_interval]))'
        " / on (rule) group_left (severity) julia_alertz offset 5m > bool 1e3 and time()"
    )
    assert dashboard.metric_names(expr) == {"julia_alerts_opened_total", "julia_alertz"}
    assert dashboard.variable_metric_names("label_values(julia_instance_status, instance_name)") == {
        "julia_instance_status"
    }


@pytest.mark.django_db
def test_every_query_names_only_metrics_the_portal_exposes(board, client, metrics_token, known_fleet):
    exposed = exposed_names(client, metrics_token)
    for query in dashboard.queries(board):
        missing = query.metric_names() - exposed
        assert not missing, f"{query.panel} ({query.ref}) reads {sorted(missing)}, which /metrics does not expose"
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert dashboard.variable_metric_names(variable["definition"]) <= exposed, variable["name"]


@pytest.mark.django_db
def test_every_metric_the_portal_exposes_has_a_place_on_the_dashboard(board, client, metrics_token, known_fleet):
    read = {name for query in dashboard.queries(board) for name in query.metric_names()}
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            read |= dashboard.variable_metric_names(variable["definition"])
    unread = exposed_names(client, metrics_token) - read
    assert not unread, f"/metrics exposes {sorted(unread)}, which no panel shows"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("title", "family", "legend"),
    [
        ("Status da frota ao longo do tempo", "julia_instances", "{status}"),
        ("Alertas abertos por regra e severidade", "julia_alerts_open", "{rule} ({severity})"),
    ],
)
def test_statuses_and_alert_rules_are_named_in_portuguese(board, client, metrics_token, title, family, legend):
    """The series come from machine values (banned, instance_banned); each gets its product name in the legend."""
    panel = next(panel for panel in dashboard.panels(board) if panel["title"] == title)
    named = {
        rule["matcher"]["options"]
        for rule in panel["fieldConfig"]["overrides"]
        if rule["matcher"]["id"] == "byName" and any(prop["id"] == "displayName" for prop in rule["properties"])
    }
    (metric,) = [metric for metric in scrape(client, metrics_token) if metric.name == family]
    series = {legend.format(**sample.labels) for sample in metric.samples}
    assert series, f"{family} has no series"
    assert not series - named, f"{title}: no Portuguese name for {sorted(series - named)}"


def test_prometheus_is_tested_with_the_scrape_job_the_docs_give():
    docs = (dashboard.DASHBOARD.parents[1] / "metrics.md").read_text(encoding="utf-8")
    assert f"```yaml\n{SCRAPE_CONFIG}```" in docs
