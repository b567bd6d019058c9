"""The fleet in the Django admin, in pt-BR."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from instances.models import ApiKey, CheckCycle, Doctor, Instance, OperatorAction, StatusChange


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is append-only: nobody edits or deletes it from the admin."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    fields = ("created_at", "old_status", "new_status", "reason")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)
    verbose_name_plural = "histórico de status (mais recentes primeiro)"


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "phone_number",
        "status",
        "status_since",
        "capacity_per_hour",
        "capacity_per_day",
        "consecutive_failures",
        "last_checked_at",
        "is_active",
    )
    list_filter = ("status", "is_active")
    search_fields = ("name", "phone_number")
    list_editable = ("capacity_per_hour", "capacity_per_day", "is_active")
    readonly_fields = (
        "status",
        "status_since",
        "last_seen_connected_at",
        "last_checked_at",
        "consecutive_failures",
        "last_error",
        "disconnection_code",
        "disconnection_reason",
        "disconnection_at",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "phone_number", "is_active")}),
        ("Capacidade", {"fields": ("capacity_per_hour", "capacity_per_day")}),
        (
            "Estado (atualizado pelo monitor)",
            {"fields": readonly_fields},
        ),
    )
    inlines = [StatusChangeInline]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # An instance carries history (status changes, usage, alerts): deactivate it instead.
        return False


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "instance", "old_status", "new_status", "reason")
    list_filter = ("new_status", "old_status")
    search_fields = ("instance__name", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("instance",)


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "kind", "instance", "detail")
    list_filter = ("kind",)
    search_fields = ("instance__name", "user__username", "detail")
    date_hierarchy = "created_at"
    list_select_related = ("user", "instance")


@admin.register(Doctor)
class DoctorAdmin(admin.ModelAdmin):
    list_display = ("name", "phone_number", "preferred_instance")
    list_filter = ("preferred_instance",)
    search_fields = ("name", "phone_number", "preferred_instance__name")
    autocomplete_fields = ("preferred_instance",)
    list_select_related = ("preferred_instance",)


@admin.register(CheckCycle)
class CheckCycleAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "finished_at",
        "probed",
        "online",
        "failures",
        "changes",
        "discovered",
        "gateway_ok",
        "record_errors",
        "cache_ok",
    )
    list_filter = ("gateway_ok", "cache_ok")
    date_hierarchy = "started_at"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    fields = ("name", "is_active", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: object, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, secret = ApiKey.issue(obj.name)
        obj.pk, obj.prefix, obj.key_hash = key.pk, key.prefix, key.key_hash
        self.message_user(
            request,
            f"Chave criada: {secret} — copie-a agora; ela não será mostrada de novo.",
            level=messages.WARNING,
        )

    @admin.action(description="Revogar as chaves selecionadas", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.update(is_active=False)
        self.message_user(request, f"{count} chave(s) revogada(s).")
