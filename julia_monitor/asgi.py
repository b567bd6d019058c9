"""ASGI entry point (uvicorn julia_monitor.asgi:application)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "julia_monitor.settings")
application = get_asgi_application()
