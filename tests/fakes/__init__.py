"""Fake outside services (Slack, an SMTP server) as real local servers, and their pytest plugin."""
