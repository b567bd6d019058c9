"""Each rule has one severity, said once in ``RULE_SEVERITY`` and again by the condition that raises it."""

from __future__ import annotations

import ast
from pathlib import Path

from alerts.choices import RULE_SEVERITY, Rule, Severity

CONDITIONS = Path(__file__).resolve().parents[2] / "alerts" / "conditions.py"


def raised_conditions() -> list[tuple[str, str]]:
    """Return (rule, severity) of every ``Condition(Rule.X, Severity.Y, …)`` written in alerts/conditions.py."""
    found = []
    for node in ast.walk(ast.parse(CONDITIONS.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Condition":
            rule, severity = node.args[:2]
            assert isinstance(rule, ast.Attribute) and isinstance(severity, ast.Attribute)
            found.append((Rule[rule.attr].value, Severity[severity.attr].value))
    return found


def test_every_condition_raises_its_rule_at_the_severity_the_table_gives() -> None:
    raised = raised_conditions()

    assert {rule for rule, _severity in raised} == set(Rule.values)
    assert [(rule, RULE_SEVERITY[rule]) for rule, _severity in raised] == raised
