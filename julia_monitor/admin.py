"""People, groups and login lockouts in the admin: no role raises itself, and every change of access is audited.

Django's own User and Group admins let anyone with "change user" tick "superuser" on their own
login. These replace them: the checks are on the server (permissions, read-only fields, the
choices a form accepts), so a crafted POST is refused as the form would be.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import ManyToManyField, QuerySet
from django.forms import CheckboxInput
from django.http import HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict

from instances.models import AccessChange
from julia_monitor.grants import (
    ACCESS_FIELDS,
    grantable_groups,
    grantable_permissions,
    may_manage_group,
    may_manage_user,
)
from julia_monitor.lib.audit import describe_changes
from julia_monitor.lib.people import signed_in_user

Kind = AccessChange.Kind

admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(AccessAttempt)


def _posted_differs(request: HttpRequest, obj: Any, name: str) -> bool:
    """Return whether a POST tries to change ``obj.name`` (a field the form does not offer this person)."""
    if name not in request.POST:
        return False  # a read-only field is not posted: nothing asked
    if name in ("groups", "user_permissions", "permissions"):
        current = {str(pk) for pk in getattr(obj, name).values_list("pk", flat=True)} if obj and obj.pk else set()
        return set(request.POST.getlist(name)) != current
    return CheckboxInput().value_from_datadict(request.POST, MultiValueDict(), name) != bool(getattr(obj, name, False))


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or may_manage_user(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or may_manage_user(request.user, obj))

    def locked_fields(self, request: HttpRequest, obj: User | None) -> tuple[str, ...]:
        """Return the access fields this person may not change on ``obj``."""
        if request.user.is_superuser:
            return ()
        if obj is not None and obj.pk == request.user.pk:
            return ACCESS_FIELDS
        return ("is_superuser",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str] | tuple[Any, ...]:
        return (*super().get_readonly_fields(request, obj), *self.locked_fields(request, obj))

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField | None:
        # A choice outside these is refused by the form itself ("Faça uma escolha válida").
        if db_field.name == "groups":
            kwargs["queryset"] = grantable_groups(request.user)
        elif db_field.name == "user_permissions":
            kwargs["queryset"] = grantable_permissions(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            obj = self.get_object(request, unquote(object_id)) if object_id else None
            if any(_posted_differs(request, obj, name) for name in self.locked_fields(request, obj)):
                raise PermissionDenied
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        actor, user = signed_in_user(request), form.instance
        if not change:
            AccessChange.record(actor, Kind.USER_CREATED, user.get_username())
        elif detail := describe_changes(form, ("username", *ACCESS_FIELDS)):
            AccessChange.record(actor, Kind.USER_CHANGED, user.get_username(), detail)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, unquote(id))
            disabled = request.POST.get("usable_password") == "false"
            detail = "login por senha desativado" if disabled else "senha trocada"
            AccessChange.record(
                signed_in_user(request), Kind.PASSWORD_CHANGED, user.get_username() if user else id, detail
            )
        return response

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        AccessChange.record(signed_in_user(request), Kind.USER_DELETED, obj.get_username())
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = signed_in_user(request)
        for user in queryset:
            AccessChange.record(actor, Kind.USER_DELETED, user.get_username())
        super().delete_queryset(request, queryset)


@admin.register(Group)
class PortalGroupAdmin(GroupAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or may_manage_group(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or may_manage_group(request.user, obj))

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField | None:
        if db_field.name == "permissions":
            kwargs["queryset"] = grantable_permissions(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        actor, group = signed_in_user(request), form.instance
        if not change:
            AccessChange.record(actor, Kind.GROUP_CREATED, group.name, describe_changes(form, ("permissions",)))
        elif detail := describe_changes(form, ("name", "permissions")):
            AccessChange.record(actor, Kind.GROUP_CHANGED, group.name, detail)

    def delete_model(self, request: HttpRequest, obj: Group) -> None:
        AccessChange.record(signed_in_user(request), Kind.GROUP_DELETED, obj.name)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        actor = signed_in_user(request)
        for group in queryset:
            AccessChange.record(actor, Kind.GROUP_DELETED, group.name)
        super().delete_queryset(request, queryset)


def _lockout(attempt: AccessAttempt) -> str:
    return f"{attempt.username} em {attempt.ip_address}"


@admin.register(AccessAttempt)
class AuditedAccessAttemptAdmin(AccessAttemptAdmin):
    """django-axes' failed attempts; deleting one unlocks that login from that address, and is audited."""

    def delete_model(self, request: HttpRequest, obj: AccessAttempt) -> None:
        detail = f"{obj.failures_since_start} tentativa(s) falha(s)"
        AccessChange.record(signed_in_user(request), Kind.LOGIN_UNLOCKED, _lockout(obj), detail)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        actor = signed_in_user(request)
        for attempt in queryset:
            detail = f"{attempt.failures_since_start} tentativa(s) falha(s)"
            AccessChange.record(actor, Kind.LOGIN_UNLOCKED, _lockout(attempt), detail)
        super().delete_queryset(request, queryset)
