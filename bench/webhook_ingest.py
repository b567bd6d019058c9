"""Benchmark webhook ingestion: Evolution ``send.message`` events through the whole Django stack.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/webhook_ingest.py [--events 3000]

Runs in one process: each event is a real WSGI request (middleware, URL routing, the view,
the database), without a network socket in between. Posts every event once and prints events
per second, then replays every event three more times, as a retrying gateway would, and
checks that the final counts are exact. It creates its own instances (prefix ``bench-ingest-``)
and deletes them at the end; it refuses to run on a database that holds any other instance.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from _setup import check_existing_database

ROOT = Path(__file__).resolve().parent.parent
BENCH_PREFIX = "bench-ingest-"
SECRET = "bench-webhook-secret"
HOST = "127.0.0.1"
TARGET_PER_SECOND = 300
REPLAYS = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="distinct send.message events (default 3000)")
    parser.add_argument("--instances", type=int, default=10, help="bench instances to spread them over (default 10)")
    parser.add_argument("--profile", action="store_true", help="profile the first pass and print the top functions")
    args = parser.parse_args(argv)
    if args.events < 1 or args.instances < 1:
        parser.error("--events e --instances devem ser >= 1")
    stop = check_existing_database(setup_django, refuse_reason)
    if stop is not None:
        return stop

    names = create_instances(args.instances)
    try:
        return run(names, args.events, args.profile)
    finally:
        delete_bench_instances()


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "julia_monitor.settings")
    import django
    from django.conf import settings

    django.setup()
    # As in production: no per-query debug log, a configured secret, and no HTTPS redirect
    # for this in-process "client". Set before the handler loads the middleware.
    settings.DEBUG = False
    settings.EVOLUTION_WEBHOOK_SECRET = SECRET
    settings.SECURE_SSL_REDIRECT = False
    if "*" not in settings.ALLOWED_HOSTS and HOST not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]


def refuse_reason() -> str:
    """Return why this database must not be used, or "" if it is fit for the bench."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return "o banco tem migrações pendentes: rode `manage.py migrate` com o mesmo DATABASE_URL antes."
    from instances.models import Instance

    real = Instance.objects.exclude(name__startswith=BENCH_PREFIX).count()
    if real:
        return f"o banco tem {real} instância(s) reais; use um banco vazio (o benchmark grava e apaga dados)."
    return ""


def create_instances(count: int) -> list[str]:
    from instances.models import Instance, Status

    delete_bench_instances()  # leftovers of an interrupted run
    names = [f"{BENCH_PREFIX}{i:03d}" for i in range(count)]
    Instance.objects.bulk_create(
        Instance(name=name, status=Status.CONNECTED, capacity_per_hour=100_000, capacity_per_day=1_000_000)
        for name in names
    )
    return names


def delete_bench_instances() -> None:
    """Delete the bench instances and the rows ingestion wrote for them.

    Plain SQL, table by table: ingestion writes only these tables, and going around the ORM's
    cascade collector keeps the cleanup independent of other apps' relations to instances.
    """
    from django.db import connection, transaction

    from instances.models import Instance, SentMessage, StatusChange, UsageBucket

    ids = list(Instance.objects.filter(name__startswith=BENCH_PREFIX).values_list("pk", flat=True))
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    with transaction.atomic(), connection.cursor() as cursor:
        for model, column in (
            (SentMessage, "instance_id"),
            (UsageBucket, "instance_id"),
            (StatusChange, "instance_id"),
            (Instance, "id"),
        ):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)  # noqa: S608 (names from _meta)


def make_events(names: list[str], count: int) -> list[bytes]:
    now = int(time.time())
    events = []
    for i in range(count):
        instance = names[i % len(names)]
        payload = {
            "event": "send.message",
            "instance": instance,
            "data": {
                "key": {"remoteJid": f"55119{i:08d}@s.whatsapp.net", "fromMe": True, "id": f"3EB0BENCH{i:010d}"},
                "pushName": "Você",
                "status": "PENDING",
                "message": {"conversation": "Olá, doutor(a)! Sua agenda de amanhã foi confirmada."},
                "contextInfo": None,
                "messageType": "conversation",
                "messageTimestamp": now,
                "instanceId": f"00000000-0000-0000-0000-{i % len(names):012d}",
                "source": "web",
            },
            "destination": "http://127.0.0.1/webhooks/evolution",
            "date_time": "2025-10-21T14:03:11.123Z",
            "sender": "5511999999999@s.whatsapp.net",
            "server_url": "http://127.0.0.1:8080",
            "apikey": None,
        }
        events.append(json.dumps(payload).encode())
    return events


class WsgiPoster:
    """POST bodies to the webhook through Django's WSGI handler, as a server would."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()

    def post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/webhooks/evolution",
            "QUERY_STRING": "",
            "SERVER_NAME": HOST,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": HOST,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_WEBHOOK_SECRET": SECRET,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        statuses: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            statuses.append(status)

        result = self.handler(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            result.close()  # fires request_finished: closes or returns the DB connection
        return int(statuses[0][:3]), json.loads(content)


def post_all(poster: WsgiPoster, events: Iterable[bytes]) -> tuple[int, int, float]:
    """Return (counted, errors, seconds) for posting ``events`` in order."""
    counted = errors = 0
    started = time.perf_counter()
    for body in events:
        status, answer = poster.post(body)
        if status != 200:
            errors += 1
            if errors <= 3:
                print(f"  resposta inesperada {status}: {answer}")
            continue
        counted += answer.get("contabilizadas", 0)
    return counted, errors, time.perf_counter() - started


def run(names: list[str], count: int, profile: bool) -> int:
    from django.conf import settings
    from django.db import connection
    from django.db.models import Sum

    from instances.models import SentMessage, UsageBucket

    events = make_events(names, count)
    poster = WsgiPoster()
    pool = "pool ligado" if settings.DATABASES["default"].get("OPTIONS", {}).get("pool") else "sem pool"
    print(f"webhook_ingest: {count} eventos send.message em {len(names)} instâncias; {connection.vendor}, {pool}")

    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    first_counted, first_errors, seconds = post_all(poster, events)
    if profiler:
        profiler.disable()
    rate = count / seconds
    verdict = "OK" if rate >= TARGET_PER_SECOND else "ABAIXO do alvo"
    print(f"primeira passagem: {count} eventos em {seconds:.2f} s = {rate:.0f} eventos/s ", end="")
    print(f"(alvo ≥ {TARGET_PER_SECOND}/s: {verdict})")

    replayed_counted, replay_errors, replay_seconds = post_all(poster, events * REPLAYS)
    print(
        f"repetições ({REPLAYS}× cada): {count * REPLAYS} eventos em {replay_seconds:.2f} s "
        f"= {count * REPLAYS / replay_seconds:.0f} eventos/s, {replayed_counted} contadas de novo"
    )

    buckets = UsageBucket.objects.filter(instance__name__startswith=BENCH_PREFIX)
    in_buckets = buckets.aggregate(total=Sum("count"))["total"] or 0
    ids = SentMessage.objects.filter(instance__name__startswith=BENCH_PREFIX).count()
    exact = in_buckets == ids == count and first_counted == count and replayed_counted == 0
    errors = first_errors + replay_errors
    print(
        f"contagem final: esperado {count}, contado {in_buckets} (ids guardados {ids}, erros {errors}) — "
        + ("EXATA" if exact and not errors else "INCORRETA")
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0 if exact and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
