"""Fleet pages: the overview, an instance's page, and the small endpoints behind fleet.js."""

from django.urls import path

from instances import views

urlpatterns = [
    path("", views.overview, name="fleet-overview"),
    path("frota/parcial", views.overview_partial, name="fleet-overview-partial"),
    path("instancias/<str:nome>/", views.instance_detail, name="instance-detail"),
    path("instancias/<str:nome>/parcial", views.instance_status_partial, name="instance-status-partial"),
    path("instancias/<str:nome>/estado", views.instance_state, name="instance-state"),
    path("instancias/<str:nome>/reconectar", views.instance_reconnect, name="instance-reconnect"),
]
