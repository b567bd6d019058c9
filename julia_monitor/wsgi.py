"""WSGI entry point (gunicorn julia_monitor.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "julia_monitor.settings")
application = get_wsgi_application()
