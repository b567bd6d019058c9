"""The alert pages: the log, one alert with its timeline, the operator actions (POST), maintenance
windows, and Slack's buttons."""

from django.urls import path

from alerts import maintenance_views, views
from alerts.slack_actions import slack_interactions

urlpatterns = [
    path("alertas/", views.alert_log, name="alert-log"),
    path("alertas/<int:alert_id>/", views.alert_detail, name="alert-detail"),
    path("alertas/<int:alert_id>/reconhecer/", views.acknowledge, name="alert-acknowledge"),
    path("alertas/<int:alert_id>/resolver/", views.resolve, name="alert-resolve"),
    path("manutencoes/", maintenance_views.maintenance_list, name="maintenance-list"),
    path("manutencoes/<int:window_id>/", maintenance_views.maintenance_detail, name="maintenance-detail"),
    path("manutencoes/<int:window_id>/encerrar/", maintenance_views.maintenance_end, name="maintenance-end"),
    path("instancias/<str:nome>/manutencao/", maintenance_views.maintenance_schedule, name="maintenance-schedule"),
    # Slack's button presses (Reconhecer / Resolver): signed by Slack, no login (docs/slack.md).
    path("slack/interactions", slack_interactions, name="slack-interactions"),
]
