from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alertas"

    def ready(self) -> None:
        from alerts import receivers
        from alerts.tasks import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self)
        receivers.connect()
