"""Alerts in the Django admin: history, timeline, acknowledgement and the outbox, in pt-BR."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from alerts.choices import AlertState, NotificationState
from alerts.delivery import requeue, unbreak
from alerts.maintenance import MaintenanceWindow
from alerts.models import Alert, AlertEvent, AlertQuerySet, ChannelStatus, Notification, SlackIdentity
from julia_monitor.lib.people import signed_in_user


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class TimelineInline(ReadOnlyInline):
    model = AlertEvent
    fields = ("created_at", "kind", "actor", "detail")
    readonly_fields = fields
    ordering = ("created_at", "id")
    verbose_name_plural = "linha do tempo"


class NotificationInline(ReadOnlyInline):
    model = Notification
    fields = (
        "created_at",
        "channel",
        "kind",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "resumed_at",
        "last_error",
    )
    readonly_fields = fields
    ordering = ("created_at", "id")
    verbose_name_plural = "entregas"


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "severity",
        "state",
        "rule",
        "instance",
        "first_seen_at",
        "last_seen_at",
        "occurrences",
        "acknowledged_by",
        "suppressed",
    )
    list_filter = ("state", "severity", "rule", "suppressed", "instance")
    search_fields = ("title", "message", "instance__name")
    date_hierarchy = "first_seen_at"
    list_select_related = ("instance", "acknowledged_by")
    readonly_fields = (
        "rule",
        "severity",
        "instance",
        "title",
        "message",
        "state",
        "suppressed",
        "first_seen_at",
        "last_seen_at",
        "occurrences",
        "last_notified_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
    )
    inlines = [TimelineInline, NotificationInline]
    actions = ["acknowledge", "resolve"]

    def get_queryset(self, request: HttpRequest) -> AlertQuerySet:
        alerts = super().get_queryset(request)
        assert isinstance(alerts, AlertQuerySet)  # Alert.objects is AlertQuerySet.as_manager()
        return alerts.open_first()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the history is never deleted

    @admin.action(description="Reconhecer os alertas selecionados", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: AlertQuerySet) -> None:
        done = sum(alert.acknowledge(signed_in_user(request)) for alert in queryset.filter(state=AlertState.FIRING))
        self.message_user(request, f"{done} alerta(s) reconhecido(s); eles não enviarão mais lembretes.")

    @admin.action(description="Resolver os alertas selecionados", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: AlertQuerySet) -> None:
        done = sum(alert.resolve(signed_in_user(request), note="resolvido no admin") for alert in queryset.open())
        self.message_user(request, f"{done} alerta(s) resolvido(s).")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "alert",
        "channel",
        "kind",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "possible_duplicate",
    )
    list_filter = ("state", "channel", "kind", "window", ("resumed_at", admin.EmptyFieldListFilter))
    search_fields = ("alert__title", "last_error")
    date_hierarchy = "created_at"
    list_select_related = ("alert",)
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["requeue"]

    @admin.display(description="pode ter saído duas vezes?", boolean=True, ordering="resumed_at")
    def possible_duplicate(self, row: Notification) -> bool:
        return row.resumed_at is not None

    @admin.action(description="Reenfileirar as notificações que falharam", permissions=["change"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        done = requeue(queryset.values_list("pk", flat=True), signed_in_user(request))
        self.message_user(request, f"{done} notificação(ões) reenfileirada(s) com novas tentativas.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ChannelStatus)
class ChannelStatusAdmin(admin.ModelAdmin):
    list_display = ("channel", "broken_at", "broken_reason", "paused_until", "consecutive_failures", "last_success_at")
    readonly_fields = [f.name for f in ChannelStatus._meta.fields]
    actions = ["unbreak"]

    @admin.action(description="Reativar os canais selecionados (configuração corrigida)", permissions=["change"])
    def unbreak(self, request: HttpRequest, queryset: QuerySet[ChannelStatus]) -> None:
        done = sum(unbreak(status.channel, signed_in_user(request)) for status in queryset)
        self.message_user(request, f"{done} canal(is) reativado(s); as notificações pendentes saem na próxima entrega.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SlackIdentity)
class SlackIdentityAdmin(admin.ModelAdmin):
    """Who each person is on Slack: the Slack buttons act as them. Else found once by e-mail and kept here."""

    list_display = ("user", "slack_user_id", "found_by_email")
    search_fields = ("user__username", "user__email", "slack_user_id")
    autocomplete_fields = ("user",)
    readonly_fields = ("found_by_email",)


class MaintenanceWindowForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = ("starts_at", "ends_at", "reason", "whole_fleet", "instances", "cancelled_at")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("whole_fleet") and not data.get("instances"):
            raise forms.ValidationError("Escolha ao menos uma instância ou a frota inteira.")
        return data


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    """Windows for several instances or the whole fleet; what each held is on its page in the portal."""

    form = MaintenanceWindowForm
    list_display = ("reason", "starts_at", "ends_at", "whole_fleet", "cancelled_at", "created_by", "held")
    list_filter = ("whole_fleet", ("cancelled_at", admin.EmptyFieldListFilter))
    search_fields = ("reason", "instances__name")
    filter_horizontal = ("instances",)
    date_hierarchy = "starts_at"
    readonly_fields = ("created_by", "created_at", "released_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[MaintenanceWindow]:
        held = Count("notifications", filter=Q(notifications__state=NotificationState.HELD))
        return super().get_queryset(request).select_related("created_by").annotate(held_count=held)

    @admin.display(description="notificações retidas", ordering="held_count")
    def held(self, window: MaintenanceWindow) -> int:
        return window.held_count  # type: ignore[attr-defined]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # history: end a window early (or cancel an upcoming one) instead

    def save_model(self, request: HttpRequest, obj: MaintenanceWindow, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = signed_in_user(request)
        super().save_model(request, obj, form, change)
