"""What the alert pages' tests share: a viewer and an operator, signed in or not, and reading the log."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from alerts.models import Alert, Rule, Severity
from instances.roles import assign_role


# Fixtures here are registered under ``name=``: a test module imports ``x_fixture`` and asks for ``x``,
# so the argument does not shadow the import (which ruff would flag as F811).
@pytest.fixture(name="viewer")
def viewer_fixture(django_user_model):
    user = django_user_model.objects.create_user("leitor")
    assign_role(user, "visualizador")
    return user


@pytest.fixture(name="operator")
def operator_fixture(django_user_model):
    user = django_user_model.objects.create_user("ana")
    assign_role(user, "operador")
    return user


@pytest.fixture(name="as_viewer")
def as_viewer_fixture(client: Client, viewer) -> Client:
    client.force_login(viewer)
    return client


@pytest.fixture(name="as_operator")
def as_operator_fixture(client: Client, operator) -> Client:
    client.force_login(operator)
    return client


def offline(make_alert, name: str, **fields) -> Alert:
    fields.setdefault("title", f"Instância {name} offline")
    return make_alert(name, rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, **fields)


def row_of(page, alert: Alert) -> str:
    html = page.content.decode()
    match = re.search(rf'<tr class="alert-row[^"]*" data-alert="{alert.pk}".*?</tr>', html, re.S)
    assert match, f"alert {alert.pk} is not on the page"
    return match.group(0)
