"""The cycle's status changes written in bulk leave exactly what writing them one by one leaves (hypothesis).

A random fleet (every status, fresh and stale readings, old and fresh disconnection codes, a status
dated after the cycle) meets a random gateway answer (numbers connected, connecting, closed, logged
out, banned, unreadable, no longer listed, and new ones). The real write phase records it twice from
the same start: once one instance at a time, once in bulk. The instances, their history, the cycle's
own account and the alerts the rules then open must be the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from alerts.models import Alert
from alerts.rules import evaluate
from instances import checks
from instances.checks import GatewayView, record_view
from instances.gateway import GatewayInstance, ProbeFailure, ProbeResult, gateway_failure
from instances.gateway.states import status_from_state
from instances.models import Instance, Status, StatusChange

NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
NEVER = None

# What the gateway says of one number this cycle: a live state, and the close's code on its row.
ANSWERS = {
    "open": ("open", None),
    "connecting": ("connecting", None),
    "close": ("close", None),
    "logged out": ("close", 401),
    "banned": ("close", 403),
}
UNREADABLE, UNLISTED = "unreadable", "unlisted"


def minutes_ago(minutes: int | None) -> datetime | None:
    return None if minutes is None else NOW - timedelta(minutes=minutes)


@dataclass
class Known:
    """An instance the portal already has, as it stands before the cycle."""

    status: str
    since: int  # minutes before the cycle; -1 is a status dated after it (the cycle's news is older)
    read: int | None
    seen_connected: int | None
    down_since: int | None
    code: int | None
    reason: str
    answer: str

    def row(self, name: str) -> Instance:
        return Instance(
            name=name,
            status=self.status,
            status_since=minutes_ago(self.since),
            status_reason=self.reason,
            last_read_at=minutes_ago(self.read),
            last_seen_connected_at=minutes_ago(self.seen_connected),
            down_since=minutes_ago(self.down_since),
            disconnection_code=self.code,
            disconnection_at=minutes_ago(30) if self.code else None,
            disconnection_seen_at=minutes_ago(30) if self.code else None,
            capacity_per_hour=20,
            capacity_per_day=100,
        )


known_instances = st.builds(
    Known,
    status=st.sampled_from(Status.values),
    since=st.sampled_from([600, 30, 2, 0, -1]),
    read=st.sampled_from([NEVER, 1, 10]),  # fresh, or older than STATUS_STALE_AFTER_SECONDS
    seen_connected=st.sampled_from([NEVER, 1, 60]),
    down_since=st.sampled_from([NEVER, 5, 120]),
    code=st.sampled_from([None, 401, 403]),
    reason=st.sampled_from(["", "sem motivo informado", "desconectada pelo celular"]),
    answer=st.sampled_from([*ANSWERS, UNREADABLE, UNLISTED]),
)
new_instances = st.sampled_from([*ANSWERS, UNREADABLE])


def gateway_view(answers: dict[str, str]) -> GatewayView:
    rows, probes = {}, {}
    for name, answer in answers.items():
        if answer == UNLISTED:
            probes[name] = ProbeResult(name, False, error="não existe", failure=ProbeFailure.NOT_FOUND)
            continue
        state, code = ANSWERS.get(answer, ("open", None))
        rows[name] = GatewayInstance(
            name,
            connection_status=state,
            disconnection_code=code,
            disconnection_at=NOW - timedelta(seconds=20) if code else None,
        )
        if answer == UNREADABLE:
            probes[name] = ProbeResult(name, False, error="resposta ilegível", failure=ProbeFailure.BAD_BODY)
        else:
            probes[name] = ProbeResult(name, True, state, status_from_state(state))
    return GatewayView(rows=rows, probes=probes, error=gateway_failure(probes.values()))


FIELDS = [f.attname for f in Instance._meta.concrete_fields if f.attname not in ("id", "created_at")]


def outcome(known: list[Known], new: list[str], bulk_from: int) -> dict[str, Any]:
    """Record the cycle from the same start with ``BULK_FROM`` at ``bulk_from``; return what it left."""
    with transaction.atomic(), time_machine.travel(NOW, tick=False), pytest.MonkeyPatch.context() as patch:
        patch.setattr(checks, "BULK_FROM", bulk_from)
        Instance.objects.bulk_create(k.row(f"zap-{i:02d}") for i, k in enumerate(known))
        answers = {f"zap-{i:02d}": k.answer for i, k in enumerate(known)}
        answers.update({f"new-{i:02d}": answer for i, answer in enumerate(new)})
        instances = {i.name: i for i in Instance.objects.all()}
        summary = record_view(gateway_view(answers), instances, NOW, time.monotonic())
        evaluate(NOW)
        left = {
            "instances": list(Instance.objects.order_by("name").values(*FIELDS)),
            "history": sorted(
                StatusChange.objects.values_list("instance__name", "old_status", "new_status", "reason", "created_at")
            ),
            "changes": [(c.instance.name, c.old_status, c.new_status, c.reason) for c in summary.changes],
            "cycle": (summary.gateway_ok, summary.discovered, summary.online, summary.failures, summary.record_errors),
            "alerts": sorted(
                (a.rule, a.instance.name if a.instance else "", a.title, a.message, a.state, a.suppressed)
                for a in Alert.objects.select_related("instance")
            ),
        }
        transaction.set_rollback(True)
    return left


@pytest.mark.django_db
@given(known=st.lists(known_instances, max_size=25), new=st.lists(new_instances, max_size=15))
def test_changes_written_in_bulk_leave_what_one_by_one_leaves(known: list[Known], new: list[str]) -> None:
    one_by_one = outcome(known, new, bulk_from=10**9)
    in_bulk = outcome(known, new, bulk_from=0)

    assert in_bulk == one_by_one
