"""10,000 doctors off one banned number: how long the migration takes, and in how many queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/python bench/doctor_migration.py [--doctors 10000] [--targets 20] [--max-seconds 2]

On a fresh test database (``_setup.bench_database``): one banned instance with ``--doctors``
doctors and a week of usage, ``--targets`` healthy instances with mixed room, then the real
``migrate_banned`` (the same call the alert evaluation makes). Printed: seconds, queries, moved
and stranded. The query count grows with the number of targets (one UPDATE each) and
by one INSERT per 5,000 moves, not per doctor. Exit status 1 past ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

from _setup import bench_database


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--doctors", type=int, default=10_000)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=2.0)
    args = parser.parse_args()

    with bench_database() as where:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from instances.doctor_moves import migrate_banned
        from instances.models import Doctor, DoctorMove, Instance, Status, UsageBucket, hour_start

        now = timezone.now()
        source = Instance.objects.create(
            name="julia-sp-01",
            status=Status.BANNED,
            status_since=now,
            capacity_per_hour=100,
            capacity_per_day=1000,
            last_read_at=now,
        )
        UsageBucket.objects.create(instance=source, hour=hour_start(now - timedelta(days=1)), count=7 * args.doctors)
        Doctor.objects.bulk_create(
            (Doctor(name=f"Dr. {i:05}", preferred_instance=source) for i in range(args.doctors)), batch_size=2000
        )
        for i in range(args.targets):
            Instance.objects.create(
                name=f"julia-{i:02}",
                status=Status.CONNECTED,
                capacity_per_hour=1000,
                capacity_per_day=1000 * (i % 5),  # 0 … 4,000 a day: some full, most with room
                last_read_at=now,
            )

        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            batches = migrate_banned(now)
            seconds = time.perf_counter() - started
        batch = batches[0]
        slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:4]
        for q in slowest:
            print(f"  {float(q['time']):.3f} s  {q['sql'][:90]}")
        assert DoctorMove.objects.count() == batch.moved
        print(f"banco: {where}")
        print(f"{args.doctors} médicos, {args.targets} destinos: {seconds:.2f} s, {len(queries)} consultas")
        print(f"movidos {batch.moved}, sem destino {batch.stranded} ({batch.per_doctor_daily} msgs/dia por médico)")
        if seconds > args.max_seconds:
            print(f"ACIMA DA META: {seconds:.2f} s > {args.max_seconds} s")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
