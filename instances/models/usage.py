"""Usage counting: messages per instance and local clock hour, and the ids already counted."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from instances.models.monitor import CheckCycle, CheckRound


class UsageBucket(models.Model):
    """Messages an instance sent in one local clock hour."""

    # No index of its own: the unique (instance, hour) index below serves every lookup by instance.
    # With both, PostgreSQL read today's usage through this one and filtered each instance's whole
    # history by hour (the overview at 10,000 instances: 140 ms in the database instead of 90).
    instance = models.ForeignKey(
        "instances.Instance", models.CASCADE, related_name="usage", verbose_name="instância", db_index=False
    )
    hour = models.DateTimeField("hora")
    count = models.PositiveIntegerField("mensagens", default=0)

    class Meta:
        verbose_name = "uso por hora"
        verbose_name_plural = "uso por hora"
        constraints = [models.UniqueConstraint(fields=["instance", "hour"], name="one_bucket_per_instance_hour")]
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"{self.instance_id} {self.hour:%Y-%m-%d %H}h: {self.count}"


class UsageNow(models.Model):
    """An instance's newest hour and newest day of usage, kept by PostgreSQL from ``UsageBucket``.

    Triggers on the buckets (migration ``0011_usage_now``) keep one row per instance: the newest
    hour with messages and its count, the newest local day with messages, its count and its first
    hour. The fleet's overview reads this row instead of today's buckets of every instance (one
    hash join instead of ten thousand index scans). On SQLite the table stays empty: the overview
    reads the buckets there.
    """

    instance = models.OneToOneField(
        "instances.Instance", models.CASCADE, primary_key=True, related_name="+", verbose_name="instância"
    )
    hour = models.DateTimeField("hora mais recente")
    hour_count = models.IntegerField("mensagens na hora")
    day = models.DateTimeField("dia mais recente")
    day_count = models.IntegerField("mensagens no dia")
    first_hour = models.DateTimeField("primeira hora do dia")

    class Meta:
        verbose_name = "uso recente"
        verbose_name_plural = "uso recente"

    def __str__(self) -> str:
        return f"{self.instance_id} {self.hour:%Y-%m-%d %H}h: {self.hour_count}/{self.day_count}"


class SentMessage(models.Model):
    """A message id already counted, kept a few days to ignore gateway retries."""

    instance = models.ForeignKey("instances.Instance", models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=128)
    sent_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "message_id"], name="count_message_once")]

    def __str__(self) -> str:
        return self.message_id


# The statements behind Instance.record_sent (table names are the models' defaults).
RECORD_MESSAGE_ID = """
    INSERT INTO instances_sentmessage (instance_id, message_id, sent_at)
    VALUES (%(instance)s, %(message)s, %(at)s)
    ON CONFLICT (instance_id, message_id) DO NOTHING RETURNING id
"""
ADD_TO_BUCKET = """
    INSERT INTO instances_usagebucket (instance_id, hour, count) VALUES (%(instance)s, %(hour)s, %(count)s)
    ON CONFLICT (instance_id, hour) DO UPDATE SET count = instances_usagebucket.count + excluded.count
"""
TOUCH_LAST_MESSAGE = """
    UPDATE instances_instance SET last_message_at = %(at)s
    WHERE id = %(instance)s AND (last_message_at IS NULL OR last_message_at < %(stale_before)s)
"""
# The same three writes as one PostgreSQL statement: the bucket grows only if the id was new
# (or there is none), and the statement's single commit makes it all or nothing.
RECORD_SENT_POSTGRESQL = """
    WITH new_id AS (
        INSERT INTO instances_sentmessage (instance_id, message_id, sent_at)
        SELECT %(instance)s, %(message)s::varchar, %(at)s WHERE %(message)s::varchar IS NOT NULL
        ON CONFLICT (instance_id, message_id) DO NOTHING RETURNING 1
    ), counted AS (
        SELECT 1 WHERE %(message)s::varchar IS NULL OR EXISTS (SELECT 1 FROM new_id)
    ), bucket AS (
        INSERT INTO instances_usagebucket (instance_id, hour, count)
        SELECT %(instance)s, %(hour)s, %(count)s FROM counted
        ON CONFLICT (instance_id, hour) DO UPDATE SET count = instances_usagebucket.count + excluded.count
        RETURNING 1
    ), touched AS (
        UPDATE instances_instance SET last_message_at = %(at)s
        WHERE id = %(instance)s AND EXISTS (SELECT 1 FROM bucket)
          AND (last_message_at IS NULL OR last_message_at < %(stale_before)s)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM bucket)
"""


# Check cycles are one row a minute; a month is plenty to look back on the monitor itself.
CHECK_CYCLE_RETENTION = timedelta(days=30)


def prune_history(now: datetime | None = None) -> str:
    """Delete message ids older than MESSAGE_ID_RETENTION_DAYS and cycles older than a month.

    Only what is kept for de-duplication and the monitor's own log goes: usage counts, status
    changes and alerts are the history and are never pruned.
    """
    now = now or timezone.now()
    ids, _ = SentMessage.objects.filter(sent_at__lt=now - timedelta(days=settings.MESSAGE_ID_RETENTION_DAYS)).delete()
    cycles, _ = CheckCycle.objects.filter(started_at__lt=now - CHECK_CYCLE_RETENTION).delete()
    CheckRound.objects.filter(started_at__lt=now - CHECK_CYCLE_RETENTION).delete()
    return f"{ids} ids de mensagem e {cycles} ciclos antigos removidos"
