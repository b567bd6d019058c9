"""The alert pages: the log, one alert with its timeline, the two operator actions (POST), and Slack's buttons."""

from django.urls import path

from alerts import views
from alerts.slack_actions import slack_interactions

urlpatterns = [
    path("alertas/", views.alert_log, name="alert-log"),
    path("alertas/<int:alert_id>/", views.alert_detail, name="alert-detail"),
    path("alertas/<int:alert_id>/reconhecer/", views.acknowledge, name="alert-acknowledge"),
    path("alertas/<int:alert_id>/resolver/", views.resolve, name="alert-resolve"),
    # Slack's button presses (Reconhecer / Resolver): signed by Slack, no login (docs/slack.md).
    path("slack/interactions", slack_interactions, name="slack-interactions"),
]
