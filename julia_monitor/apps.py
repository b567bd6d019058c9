from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class JuliaMonitorConfig(AppConfig):
    """The portal as a whole: roles, the people commands, the demo, the site's stylesheet (no models)."""

    name = "julia_monitor"
    verbose_name = "Julia Monitor"

    def ready(self) -> None:
        from julia_monitor.roles import ensure_roles

        # post_migrate is sent only for apps with models; the roles need both portal apps'
        # permissions, so they follow the last one to migrate.
        post_migrate.connect(ensure_roles, sender=apps.get_app_config("alerts"))


class LoginLockoutConfig(AxesAppConfig):
    """django-axes under a pt-BR name in the admin (its own has none)."""

    verbose_name = "Bloqueios de login"
