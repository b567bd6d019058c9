from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from julia_monitor.api import api
from julia_monitor.metrics import metrics

admin.site.site_header = "Julia Monitor"
admin.site.site_title = "Julia Monitor"
admin.site.index_title = "Administração"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dashboard/", api.urls),
    path("metrics", metrics, name="metrics"),
    path("entrar/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("sair/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("instances.urls")),
    path("", include("alerts.urls")),
]
