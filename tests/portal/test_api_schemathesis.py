"""Schemathesis against the API's own OpenAPI schema: every operation, every check, zero failures.

The schema is read from ``/dashboard/openapi.json`` with an API key, and schemathesis's engine
(what its command line runs: examples, coverage, fuzzing and stateful phases, positive and
negative data, every check) sends its requests through the whole Django stack in process
(WSGI), on the test's database holding a small fleet and alerts in every state, so paths name
real rows. ``make test`` runs a bounded number of examples with a fixed seed, printed; a
failure is printed with the request that reproduces it.

A longer run (another seed: ``SCHEMATHESIS_SEED``)::

    SCHEMATHESIS_EXAMPLES=1000 make test PYTEST_ARGS=tests/portal/test_api_schemathesis.py
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.utils import timezone
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from alerts.choices import AlertState, Rule, Severity
from instances.models import CheckCycle
from instances.models import Status as InstanceStatus

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261130"))


@pytest.fixture
def fleet(make_instance: Any, make_alert: Any) -> None:
    """Three numbers (up, down, banned), alerts firing, acknowledged and resolved, and a fresh cycle (health 200)."""
    CheckCycle.objects.create(started_at=timezone.now(), finished_at=timezone.now(), probed=3, online=1)
    make_instance("zap-01", status=InstanceStatus.CONNECTED)
    make_instance("zap-02", status=InstanceStatus.DISCONNECTED)
    make_instance("zap-03", status=InstanceStatus.BANNED)
    make_alert("zap-03")
    make_alert("zap-02", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, state=AlertState.ACKNOWLEDGED)
    make_alert(None, rule=Rule.ALL_OFFLINE, state=AlertState.RESOLVED)


def failures_of(event: events.EngineEvent) -> list[str]:
    if isinstance(event, events.ScenarioFinished) and event.status in (Status.FAILURE, Status.ERROR):
        return [
            f"{event.label} [{event.phase.value}]: {check.name}: {check.failure_info.failure.title} — "
            f"{check.failure_info.failure.message}\n    {check.failure_info.code_sample}"
            for checks in event.recorder.checks.values()
            for check in checks
            if check.failure_info is not None
        ] or [f"{event.label} [{event.phase.value}]: {event.status.value}"]
    if isinstance(event, events.NonFatalError):
        return [f"{event.label}: erro: {event.info.format()}"]
    if isinstance(event, events.FatalError):
        return [f"erro fatal: {event.exception!r}"]
    return []


def test_the_api_keeps_its_own_contract(live_server: Any, fleet: None, api_key: str) -> None:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"X-API-Key": api_key},
            # One worker: the requests go one after the other, as the fixtures left the data.
            "workers": 1,
            "generation": {"max-examples": EXAMPLES, "mode": "all", "database": "none", "codec": "utf-8"},
            "checks": {
                "enabled": True,
                # Text with control characters is a 400 (said in the schema as a ``pattern``, which
                # schemathesis does not generate from): a refusal with a reason, not valid input refused.
                "positive_data_acceptance": {"expected-statuses": ["2xx", 400, 401, 403, 404, 409]},
            },
            "operations": [
                {
                    # Valid by the schema, refused by rules no schema can say: a sending time
                    # older than the de-duplication window or in the future, and an id with a
                    # quantity above 1. These are 422s with a reason, not rejected valid input.
                    "include-path": "/dashboard/instances/{nome}/uso",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 401, 403, 404, 422]}},
                },
                {
                    # A maintenance window ending before it starts (or already over), covering
                    # nothing, or naming an unknown instance: 422s with a reason.
                    "include-path": "/dashboard/manutencoes",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 401, 403, 404, 422]}},
                },
            ],
        }
    )
    # A real server on loopback (schemathesis's in-process WSGI transport cannot send its auth probes).
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/dashboard/openapi.json", config=config, headers={"X-API-Key": api_key}
    )
    print(f"schemathesis: seed {SEED}, {EXAMPLES} exemplos por operação")

    found: list[str] = []
    scenarios = 0
    for event in schemathesis.engine.from_schema(schema).execute():
        scenarios += isinstance(event, events.ScenarioFinished)
        found.extend(failures_of(event))

    assert scenarios >= 8, f"só {scenarios} cenários rodaram"
    assert not found, f"seed {SEED}:\n" + "\n".join(found)
