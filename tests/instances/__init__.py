"""The fleet: the gateway client, the check cycle, webhooks, usage, uptime, the dashboard API and the fleet pages."""
