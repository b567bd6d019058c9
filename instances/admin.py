"""The fleet in the Django admin, in pt-BR."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.cache import add_never_cache_headers

from instances.doctor_admin import DoctorForm, DoctorImportExportMixin
from instances.models import (
    AccessChange,
    ApiKey,
    CheckCycle,
    Doctor,
    DoctorMove,
    Instance,
    MigrationBatch,
    OperatorAction,
    StatusChange,
)
from julia_monitor.lib.audit import describe_changes
from julia_monitor.lib.people import signed_in_user


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
class DoctorAdmin(DoctorImportExportMixin, admin.ModelAdmin):
    form = DoctorForm
    list_display = ("name", "phone_number", "crm", "especialidade", "preferred_instance")
    list_filter = ("preferred_instance", "especialidade")
    search_fields = ("name", "phone_number", "crm", "especialidade", "preferred_instance__name")
    autocomplete_fields = ("preferred_instance",)
    list_select_related = ("preferred_instance",)


@admin.register(MigrationBatch)
class MigrationBatchAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "instance", "reason", "user", "moved", "stranded", "undone_at", "summary")
    list_filter = ("reason",)
    search_fields = ("instance__name", "summary")
    date_hierarchy = "created_at"
    list_select_related = ("instance", "user")


@admin.register(DoctorMove)
class DoctorMoveAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "doctor", "from_instance", "to_instance", "reason", "batch", "undo")
    list_filter = ("undo",)
    search_fields = ("doctor__name", "from_instance__name", "to_instance__name")
    date_hierarchy = "created_at"
    list_select_related = ("doctor", "from_instance", "to_instance", "batch")


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
        "shard",
        "shards",
    )
    list_filter = ("gateway_ok", "cache_ok", "shards")
    date_hierarchy = "started_at"


# The clear-text key of the key just created waits here, server-side, for its one showing.
ISSUED_KEY_SESSION = "instances:issued-api-key"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys; every creation, revocation, change and deletion is recorded in "Auditoria de acesso"."""

    list_display = ("name", "prefix", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    fields = ("name", "is_active", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ["revoke"]

    def get_urls(self) -> list[URLPattern]:
        issued = path("<int:pk>/emitida/", self.admin_site.admin_view(self.issued_view), name="instances_apikey_issued")
        return [issued, *super().get_urls()]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        actor = signed_in_user(request)
        if change:
            super().save_model(request, obj, form, change)
            if "is_active" in form.changed_data and not obj.is_active:
                AccessChange.record(actor, AccessChange.Kind.API_KEY_REVOKED, obj)
            elif form.changed_data:
                detail = describe_changes(form, form.changed_data)
                AccessChange.record(actor, AccessChange.Kind.API_KEY_CHANGED, obj, detail)
            return
        key, secret = ApiKey.issue(obj.name)
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = key.pk, key.prefix, key.key_hash, key.created_at
        if not obj.is_active:
            ApiKey.objects.filter(pk=key.pk).update(is_active=False)
        # Never in a message: those travel in a cookie. The session is server-side.
        request.session[ISSUED_KEY_SESSION] = {"pk": key.pk, "secret": secret}
        AccessChange.record(actor, AccessChange.Kind.API_KEY_CREATED, key)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        return redirect("admin:instances_apikey_issued", pk=obj.pk)

    def issued_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Show a new key's clear text once: the session forgets it as it is shown."""
        key = get_object_or_404(ApiKey, pk=pk)
        if not self.has_add_permission(request):
            raise PermissionDenied
        issued = request.session.get(ISSUED_KEY_SESSION)
        secret = None
        if issued and issued.get("pk") == key.pk:
            secret = issued["secret"]
            del request.session[ISSUED_KEY_SESSION]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Chave de API criada",
            "key": key,
            "secret": secret,
        }
        response = TemplateResponse(request, "admin/instances/apikey/issued.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revogar as chaves selecionadas", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        actor = signed_in_user(request)
        with transaction.atomic():
            keys = list(queryset.filter(is_active=True).select_for_update())
            ApiKey.objects.filter(pk__in=[k.pk for k in keys]).update(is_active=False)
            for key in keys:
                AccessChange.record(actor, AccessChange.Kind.API_KEY_REVOKED, key)
        self.message_user(request, f"{len(keys)} chave(s) revogada(s).")

    def delete_model(self, request: HttpRequest, obj: ApiKey) -> None:
        AccessChange.record(signed_in_user(request), AccessChange.Kind.API_KEY_DELETED, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        actor = signed_in_user(request)
        for key in queryset:
            AccessChange.record(actor, AccessChange.Kind.API_KEY_DELETED, key)
        super().delete_queryset(request, queryset)


@admin.register(AccessChange)
class AccessChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_name", "kind", "target", "detail")
    list_filter = ("kind",)
    search_fields = ("actor_name", "target", "detail")
    date_hierarchy = "created_at"
