"""Fleet pages (the overview, an instance's page, the small endpoints behind fleet.js) and Evolution's webhook."""

from django.urls import path

from instances import overview_views, views
from instances.webhooks import evolution_webhook

urlpatterns = [
    path("", overview_views.overview, name="fleet-overview"),
    path("frota/parcial", overview_views.overview_partial, name="fleet-overview-partial"),
    path("instancias/<str:nome>/", views.instance_detail, name="instance-detail"),
    path("instancias/<str:nome>/parcial", views.instance_status_partial, name="instance-status-partial"),
    path("instancias/<str:nome>/estado", views.instance_state, name="instance-state"),
    path("instancias/<str:nome>/reconectar", views.instance_reconnect, name="instance-reconnect"),
    path("instancias/<str:nome>/migrar", views.instance_drain, name="instance-drain"),
    path("instancias/<str:nome>/migracoes/<int:lote>/desfazer", views.migration_undo, name="instance-migration-undo"),
    path("webhooks/evolution", evolution_webhook, name="evolution-webhook"),
]
