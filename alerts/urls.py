"""The alert pages: the log, one alert with its timeline, and the two operator actions (POST)."""

from django.urls import path

from alerts import views

urlpatterns = [
    path("alertas/", views.alert_log, name="alert-log"),
    path("alertas/<int:alert_id>/", views.alert_detail, name="alert-detail"),
    path("alertas/<int:alert_id>/reconhecer/", views.acknowledge, name="alert-acknowledge"),
    path("alertas/<int:alert_id>/resolver/", views.resolve, name="alert-resolve"),
]
