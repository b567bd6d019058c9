"""What the alert pages' tests share: an offline alert, and reading one row of the log."""

from __future__ import annotations

import re

from alerts.models import Alert, Rule, Severity


def offline(make_alert, name: str, **fields) -> Alert:
    fields.setdefault("title", f"Instância {name} offline")
    return make_alert(name, rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, **fields)


def row_of(page, alert: Alert) -> str:
    html = page.content.decode()
    match = re.search(rf'<tr class="alert-row[^"]*" data-alert="{alert.pk}".*?</tr>', html, re.S)
    assert match, f"alert {alert.pk} is not on the page"
    return match.group(0)
