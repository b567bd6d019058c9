from django.contrib import admin
from django.urls import path

from instances.webhooks import evolution_webhook
from julia_monitor.api import api

admin.site.site_header = "Julia Monitor"
admin.site.site_title = "Julia Monitor"
admin.site.index_title = "Administração"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dashboard/", api.urls),
    path("webhooks/evolution", evolution_webhook, name="evolution-webhook"),
]
