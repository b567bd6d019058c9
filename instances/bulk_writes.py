"""Writes about many instances in a few statements, whatever the size of the fleet.

A cycle that discovers 10,000 numbers, or sees hundreds drop at once (a gateway restart),
must not write them one row at a time: one INSERT for the history rows and one UPDATE per
batch of instances, so the write phase costs about the same for 20 rows or 20,000.

Each function here raises on a database error and writes nothing of the batch that failed
(its own savepoint); the callers then retry that batch row by row through
``instances.guarded``, so one row the database refuses costs only itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import Case, F, Field, Value, When
from django.db.models.functions import Cast

from instances.models import Instance, StatusChange, StatusUpdate

# Rows per statement: large enough that a 10,000-instance fleet takes ten, small enough that a
# failed batch retried row by row costs a few seconds, not the whole cycle.
BATCH_SIZE = 1000

T = TypeVar("T")


@dataclass
class Observed:
    """One status the cycle saw (or concluded, when ``read`` is False) for one instance."""

    instance: Instance
    status: str
    reason: str
    read: bool = True


def batches(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def update_rows(rows: dict[int, dict[str, Any]]) -> None:
    """Write each row's own fields (pk -> {field: value}), one UPDATE per batch of rows.

    Each field is a CASE with one WHEN per distinct value (not per row) and the column itself
    as the default, so a row keeps every field it was not given; a value every row of the
    batch gets is set plainly. 10,000 new instances seen connected at the same moment are ten
    short statements.
    """
    names = sorted({name for values in rows.values() for name in values})
    if not names:
        return
    items = list(rows.items())
    cast = connection.features.requires_casted_case_in_updates
    for batch in batches(items, _rows_per_statement(len(names))):
        assignments = {}
        for name in names:
            pks_by_value: dict[Any, list[int]] = defaultdict(list)
            for pk, values in batch:
                if name in values:
                    pks_by_value[values[name]].append(pk)
            if not pks_by_value:
                continue
            field = Instance._meta.get_field(name)
            assert isinstance(field, Field)  # a column, never a relation's reverse side
            if len(pks_by_value) == 1 and len(next(iter(pks_by_value.values()))) == len(batch):
                # One value for every row (a discovery's status and moment): no CASE to evaluate.
                assignments[name] = Value(next(iter(pks_by_value)), output_field=field)
                continue
            whens = [When(pk__in=pks, then=Value(value, output_field=field)) for value, pks in pks_by_value.items()]
            case = Case(*whens, default=F(name), output_field=field)
            # As bulk_update does: PostgreSQL cannot always infer a CASE's type from its parameters.
            assignments[name] = Cast(case, output_field=field) if cast else case
        Instance.objects.filter(pk__in=[pk for pk, _ in batch]).update(**assignments)


def _rows_per_statement(fields: int) -> int:
    """Return how many rows one UPDATE may carry: each row costs at most 1 + 2 × fields parameters."""
    limit = connection.features.max_query_params  # SQLite's 999; PostgreSQL has none here
    return BATCH_SIZE if limit is None else max(1, min(BATCH_SIZE, limit // (1 + 2 * fields)))


def record_statuses(observed: Sequence[Observed], at: datetime) -> list[StatusChange]:
    """Record a batch of the cycle's observations as ``Instance.record_status`` would, one by one.

    The same rules (``Instance.status_update``) on rows locked by one SELECT … FOR UPDATE, so a
    status webhook racing the cycle is recorded once; then one INSERT for the history and one
    UPDATE for the rows. The caller's instances are left as written, as ``record_status``
    leaves them. One observation per instance; return the changes in the order observed.
    """
    wanted = {seen.instance.pk: seen for seen in observed}
    with transaction.atomic():
        # Locked in pk order, the order any other batch writer locks them in.
        current = {row.pk: row for row in Instance.objects.select_for_update().filter(pk__in=wanted).order_by("pk")}
        updates: dict[int, StatusUpdate] = {}
        for pk, seen in wanted.items():
            if pk not in current:  # deleted meanwhile: the row-by-row path says so per instance
                raise Instance.DoesNotExist(f"instance {pk} is gone")
            update = current[pk].status_update(seen.status, seen.reason[:300], at, read=seen.read)
            if update is not None:
                updates[pk] = update
        changes = [update.change for update in updates.values() if update.change is not None]
        StatusChange.objects.bulk_create(changes, batch_size=BATCH_SIZE)
        update_rows({pk: update.fields for pk, update in updates.items()})
    for pk, seen in wanted.items():
        row = current[pk]
        for name, value in updates[pk].fields.items() if pk in updates else ():
            setattr(row, name, value)
        for field in Instance._meta.concrete_fields:
            setattr(seen.instance, field.attname, getattr(row, field.attname))
    return changes
