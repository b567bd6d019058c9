"""What the fleet tells the rest of the portal; the alerts app listens (instances imports no alerts)."""

from django.dispatch import Signal

# The minute's check of the whole fleet is complete (instances.checks.complete_minute): a
# whole-fleet cycle ran to its end (not when skipped for the lease), or a sharded round closed.
# kwargs: summary (a CycleSummary, or a RoundSummary for a sharded minute).
cycle_finished = Signal()
# A status seen outside the cycle changed (a webhook, the instance page's live probe).
# kwargs: instance, change (the StatusChange).
status_changed = Signal()
