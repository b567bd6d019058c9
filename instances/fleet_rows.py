"""Reading the overview's rows: every active instance with its usage this hour and today.

On SQLite this is ``Instance.objects.for_dashboard(now)`` as plain values. On PostgreSQL the same
rows come from one statement written for the fleet's size, and two costs that grow with it go:

- ``with_usage()`` asks three correlated subqueries per instance (this hour's count, today's
  sum, today's first hour), one index scan of today's buckets each. A trigger keeps each
  instance's newest hour and newest day in ``UsageNow`` instead (see the migration
  ``0011_usage_now``), so the statement joins one row per instance: this hour's count is the
  newest hour's when that hour is this one, today's when the newest day is today, else 0.
  Only the rows whose newest hour is *after* ``now`` (a clock ahead of the reader's wrote it)
  are read again through ``with_usage()``, so the answer never depends on the shortcut.
- Django reads timestamps with a loader of its own written in Python: at 10,000 instances this
  parsing cost more than the query. The moments (``MOMENT_FIELDS``) come as PostgreSQL's text
  ("2026-11-30 12:00:00.5+00") instead: cheap to read and to compare with a row already
  built, and each text parsed once by ``datetime.fromisoformat`` (``instances.fleet.read_rows``).

Both paths answer the same rows in the same order, the moments as text or as datetimes (tests
compare them on PostgreSQL, over random sequences of writes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connections

from instances.models import Instance, day_start, hour_start

# ``last_read_at`` comes last: a check cycle changes it alone in most rows, and a fresh row is
# known by the others (``instances.fleet.read_rows``).
VALUE_FIELDS = (
    "pk",
    "name",
    "phone_number",
    "status",
    "status_reason",
    "capacity_per_hour",
    "capacity_per_day",
    "last_message_at",
    "down_since",
    "first_hour_today",
    "msgs_hour",
    "msgs_day",
    "last_read_at",
)
MOMENT_FIELDS = ("last_message_at", "last_read_at", "down_since", "first_hour_today")


def orm_values(now: datetime, pks: list[int] | None = None) -> list[tuple[Any, ...]]:
    """Return the rows through the ORM (``for_dashboard``): any database, the reference.

    With ``pks``, only those instances' rows.
    """
    instances = Instance.objects.for_dashboard(now)
    if pks is not None:
        instances = instances.filter(pk__in=pks)
    return list(instances.values_list(*VALUE_FIELDS))


# The columns of VALUE_FIELDS, then whether the newest hour is after this one.
ROLLUP_SQL = """
SELECT i.id, i.name, i.phone_number, i.status, i.status_reason, i.capacity_per_hour, i.capacity_per_day,
       i.last_message_at, i.down_since,
       CASE WHEN u.day = %(today)s THEN u.first_hour END,
       CASE WHEN u.hour = %(this_hour)s THEN u.hour_count ELSE 0 END,
       CASE WHEN u.day = %(today)s THEN u.day_count ELSE 0 END,
       i.last_read_at,
       u.hour > %(this_hour)s
FROM instances_instance i
LEFT JOIN instances_usagenow u ON u.instance_id = i.id
WHERE i.is_active
ORDER BY i.name
"""


def dashboard_values(now: datetime) -> list[tuple[Any, ...]]:
    """Return the values of ``VALUE_FIELDS`` for every active instance, by name, in one query.

    On PostgreSQL the ``MOMENT_FIELDS`` are PostgreSQL's text of each moment (see above), but
    in the rows read again through the ORM.
    """
    connection = connections[Instance.objects.db]
    if connection.vendor != "postgresql":
        return orm_values(now)
    from psycopg.types.string import TextLoader  # PostgreSQL only

    params = {"this_hour": hour_start(now), "today": day_start(now)}
    with connection.cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", TextLoader)
        cursor.execute(ROLLUP_SQL, params)
        rows = cursor.fetchall()
    ahead = [row[0] for row in rows if row[-1]]
    if not ahead:
        return [row[:-1] for row in rows]
    # Newer than now: a clock ahead of the reader's wrote these (rare, at an hour's turn).
    again = {row[0]: row for row in orm_values(now, ahead)}
    return [again.get(row[0], row[:-1]) for row in rows]
