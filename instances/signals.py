"""What the fleet tells the rest of the portal; the alerts app listens (instances imports no alerts)."""

from django.dispatch import Signal

# A check cycle ran to its end (not when skipped for the lease). kwargs: summary.
cycle_finished = Signal()
# A webhook changed an instance's status. kwargs: instance, change (the StatusChange).
status_changed = Signal()
