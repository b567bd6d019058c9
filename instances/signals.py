"""What the fleet tells the rest of the portal; the alerts app listens (instances imports no alerts)."""

from django.dispatch import Signal

# A check cycle ran to its end (not when skipped for the lease). kwargs: summary.
cycle_finished = Signal()
# A status seen outside the cycle changed (a webhook, the instance page's live probe).
# kwargs: instance, change (the StatusChange).
status_changed = Signal()
