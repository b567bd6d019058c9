"""Fleet pages (placeholder views until the pages land)."""

from django.urls import path

from instances import views

urlpatterns = [
    path("", views.overview, name="fleet-overview"),
]
