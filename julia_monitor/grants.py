"""What a person may grant in the admin: nothing above what they hold themselves.

A superuser may do anything. Anyone else (an administrator) manages only people and groups
whose permissions they hold themselves, grants only those permissions and groups, and never
touches their own access: so no role can raise itself, or anyone, above itself.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.db.models import Q, QuerySet

from julia_monitor.roles import ROLES

# The fields that say what a person may do; nobody but a superuser changes their own.
ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")

Actor = AbstractBaseUser | AnonymousUser


def _names(perms: QuerySet[Permission]) -> set[str]:
    return {f"{app}.{codename}" for app, codename in perms.values_list("content_type__app_label", "codename")}


def _held(user: User) -> QuerySet[Permission]:
    return Permission.objects.filter(Q(user=user) | Q(group__user=user)).distinct()


def held_permissions(user: User) -> set[str]:
    """Return what ``user``'s groups and own permissions allow, whether the login is active or not."""
    return _names(_held(user))


def group_permissions(group: Group) -> set[str]:
    return _names(group.permissions.all())


def _is_superuser(actor: Actor) -> bool:
    return bool(getattr(actor, "is_superuser", False))


def _actor_permissions(actor: Actor) -> set[str]:
    return held_permissions(actor) if isinstance(actor, User) else set()


def may_manage_user(actor: Actor, target: User) -> bool:
    """Return whether ``actor`` may change or delete ``target``: never a superuser, nor anyone who holds more."""
    if _is_superuser(actor):
        return True
    return not target.is_superuser and held_permissions(target) <= _actor_permissions(actor)


def may_manage_group(actor: Actor, group: Group) -> bool:
    """Return whether ``actor`` may change or delete ``group``.

    The three roles are defined in code (rewritten on every migrate) and only a superuser edits
    them; nobody edits a group they belong to, nor one that grants more than they hold.
    """
    if _is_superuser(actor):
        return True
    if not isinstance(actor, User) or group.name in ROLES.values() or group.user_set.filter(pk=actor.pk).exists():
        return False
    return group_permissions(group) <= _actor_permissions(actor)


def grantable_permissions(actor: Actor) -> QuerySet[Permission]:
    """Return the permissions ``actor`` may give to a person or a group: those they hold."""
    perms = Permission.objects.select_related("content_type")
    if _is_superuser(actor):
        return perms
    if not isinstance(actor, User):
        return perms.none()
    return perms.filter(pk__in=_held(actor).values("pk"))


def grantable_groups(actor: Actor) -> QuerySet[Group]:
    """Return the groups ``actor`` may put a person in: those granting nothing beyond what they hold."""
    if _is_superuser(actor):
        return Group.objects.all()
    beyond = Permission.objects.exclude(pk__in=grantable_permissions(actor).values("pk"))
    return Group.objects.exclude(permissions__in=beyond)
