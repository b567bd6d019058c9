"""Doctors and their moves between instances: one ``MigrationBatch`` per migration, one ``DoctorMove`` per doctor."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from instances.doctor_fields import CRM_HELP, validate_crm


class Doctor(models.Model):
    name = models.CharField("nome", max_length=200)
    phone_number = models.CharField("telefone", max_length=32, blank=True)
    preferred_instance = models.ForeignKey(
        "instances.Instance",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="doctors",
        verbose_name="instância preferida",
    )
    # Optional; stored as ``CRM/UF number`` (see instances/doctor_fields.py).
    crm = models.CharField("CRM", max_length=20, blank=True, validators=[validate_crm], help_text=CRM_HELP)
    especialidade = models.CharField("especialidade", max_length=100, blank=True)

    class Meta:
        verbose_name = "médico"
        verbose_name_plural = "médicos"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MigrationReason(models.TextChoices):
    BANNED = "banida", "banida"
    DRAINED = "drenada", "drenada"


class MigrationBatch(models.Model):
    """Doctors moved off one instance at once: by the system when it was banned, or drained by a person.

    ``episode_since`` is the ban's ``status_since`` for a ban batch: one batch per ban (the
    constraint), so evaluating the same ban again moves nobody twice.
    """

    instance = models.ForeignKey(
        "instances.Instance", models.CASCADE, related_name="migration_batches", verbose_name="instância"
    )
    reason = models.CharField("motivo", max_length=16, choices=MigrationReason.choices)
    episode_since = models.DateTimeField("banida desde", null=True, blank=True)
    created_at = models.DateTimeField("quando", default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="por"
    )
    moved = models.PositiveIntegerField("movidos", default=0)
    stranded = models.PositiveIntegerField("sem destino", default=0)
    per_doctor_daily = models.PositiveIntegerField("mensagens/dia estimadas por médico", default=1)
    summary = models.CharField("resumo", max_length=1000, blank=True)
    noted_on_alert = models.BooleanField("registrado no alerta", default=False)
    undone_at = models.DateTimeField("desfeito em", null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="desfeito por"
    )
    restored = models.PositiveIntegerField("devolvidos", default=0)

    class Meta:
        verbose_name = "migração de médicos"
        verbose_name_plural = "migrações de médicos"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "episode_since"],
                condition=models.Q(reason="banida"),
                name="one_migration_per_ban",
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} ({self.reason}): {self.summary}"

    @property
    def reason_display(self) -> str:
        if self.reason == MigrationReason.DRAINED and self.user is not None:
            return f"drenada por {self.user.get_username()}"
        return self.get_reason_display()


class DoctorMove(models.Model):
    """One doctor moved from one instance to another (``undo`` True: moved back by undoing its batch)."""

    doctor = models.ForeignKey("instances.Doctor", models.CASCADE, related_name="moves", verbose_name="médico")
    from_instance = models.ForeignKey(
        "instances.Instance", models.SET_NULL, null=True, related_name="+", verbose_name="de"
    )
    to_instance = models.ForeignKey(
        "instances.Instance", models.SET_NULL, null=True, related_name="+", verbose_name="para"
    )
    batch = models.ForeignKey(MigrationBatch, models.CASCADE, related_name="moves", verbose_name="lote")
    reason = models.CharField("motivo", max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="por"
    )
    undo = models.BooleanField("desfazendo o lote", default=False)
    created_at = models.DateTimeField("quando", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "médico migrado"
        verbose_name_plural = "médicos migrados"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["doctor", "-created_at"], name="doctor_move_latest")]

    def __str__(self) -> str:
        return f"{self.doctor_id}: {self.from_instance_id} → {self.to_instance_id}"
