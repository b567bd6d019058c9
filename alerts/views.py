"""Alert log pages (placeholder)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


@login_required
def alert_log(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Alertas")
