"""Alert log pages (placeholder views until the pages land)."""

from django.urls import path

from alerts import views

urlpatterns = [
    path("alertas/", views.alert_log, name="alert-log"),
]
