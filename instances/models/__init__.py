"""The instances app's models, one module per concern; import them from here."""

from instances.models.access import AccessChange, ApiKey, hash_api_key
from instances.models.doctors import Doctor, DoctorMove, MigrationBatch, MigrationReason
from instances.models.fleet import (
    CLOCK_SKEW_TOLERANCE,
    LAST_MESSAGE_RESOLUTION,
    STATUS_EMOJI,
    Instance,
    InstanceQuerySet,
    OperatorAction,
    Status,
    StatusChange,
    StatusUpdate,
    day_start,
    hour_start,
    is_fresh,
    load_percent,
    settled_status,
    shown_status,
    status_emoji,
)
from instances.models.monitor import CheckCycle, CheckRound, MonitorLease
from instances.models.usage import CHECK_CYCLE_RETENTION, SentMessage, UsageBucket, UsageNow, prune_history

__all__ = [
    "CHECK_CYCLE_RETENTION",
    "CLOCK_SKEW_TOLERANCE",
    "LAST_MESSAGE_RESOLUTION",
    "STATUS_EMOJI",
    "AccessChange",
    "ApiKey",
    "CheckCycle",
    "CheckRound",
    "Doctor",
    "DoctorMove",
    "Instance",
    "InstanceQuerySet",
    "MigrationBatch",
    "MigrationReason",
    "MonitorLease",
    "OperatorAction",
    "SentMessage",
    "Status",
    "StatusChange",
    "StatusUpdate",
    "UsageBucket",
    "UsageNow",
    "day_start",
    "hash_api_key",
    "hour_start",
    "is_fresh",
    "load_percent",
    "prune_history",
    "settled_status",
    "shown_status",
    "status_emoji",
]
