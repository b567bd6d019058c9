"""Alerts: the rules and incidents, the channels, delivery, the alerts API and pages, end to end."""
