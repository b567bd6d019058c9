from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InstancesConfig(AppConfig):
    name = "instances"
    verbose_name = "Frota"

    def ready(self) -> None:
        from instances.tasks import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self)
