"""The Grafana dashboard of docs/grafana/ as the tests read it: its panels, their queries, the metric names in them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "julia-monitor.json"

# What Grafana puts in place of its variables when the dashboard shows every instance ("All" is
# the variable's allValue) over a short range; Prometheus's own API knows none of them.
SUBSTITUTIONS = {"$instance_name": ".*", "$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}

# PromQL words that look like metric names but are not (https://prometheus.io/docs/prometheus/latest/querying/operators/).
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^}]*\}")
RANGES = re.compile(r"\[[^\]]*\]")
GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
VARIABLES = re.compile(r"\$\{?\w+\}?")
LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.*),)?\s*\w+\s*\)\s*$")
NAMES = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()")


@dataclass(frozen=True)
class Query:
    panel: str
    ref: str
    expr: str

    def for_prometheus(self) -> str:
        """Return the expression as Grafana sends it to Prometheus with every instance selected."""
        expr = self.expr
        for variable, value in SUBSTITUTIONS.items():
            expr = expr.replace("${" + variable[1:] + "}", value).replace(variable, value)
        return expr

    def metric_names(self) -> set[str]:
        return metric_names(self.expr)


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those folded inside a collapsed row too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> list[Query]:
    return [
        Query(panel["title"], target["refId"], target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression selects: no functions, keywords, labels or variables."""
    text = STRINGS.sub(" ", expr)
    text = MATCHERS.sub(" ", text)
    text = RANGES.sub(" ", text)
    text = GROUPINGS.sub(" ", text)
    text = VARIABLES.sub(" ", text)
    return {name for name in NAMES.findall(text) if name not in KEYWORDS}


def variable_metric_names(definition: str) -> set[str]:
    """Return the metric names of a Grafana variable query such as ``label_values(metric{…}, label)``."""
    found = LABEL_VALUES.match(definition)
    assert found, f"not a label_values() query: {definition!r}"
    return metric_names(found.group(1) or "")
