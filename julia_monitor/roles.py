"""The portal's three roles as Django groups: viewers, operators and administrators.

Pages only need a login (viewers see everything); the groups decide who may act:
operators acknowledge, resolve, reconnect and migrate doctors; administrators also manage the fleet, doctors,
API keys and people in the Django admin. The groups are defined here and rewritten on every
``migrate`` (``ensure_roles``), so a custom set of permissions belongs in another group.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission, User
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Q

VIEWERS = "Visualizadores"
OPERATORS = "Operadores"
ADMINISTRATORS = "Administradores"

# What people type (``create_user --role``) → the group.
ROLES = {"visualizador": VIEWERS, "operador": OPERATORS, "administrador": ADMINISTRATORS}

# The portal's own apps: viewers get "view" on their models.
PORTAL_APPS = ("instances", "alerts")
OPERATOR_PERMISSIONS = (
    "alerts.change_alert",
    "alerts.add_maintenancewindow",
    "alerts.change_maintenancewindow",
    "instances.reconnect_instance",
    "instances.report_usage",
    "instances.migrate_doctors",
)
ADMIN_MANAGED_MODELS = (
    "instances.instance",
    "instances.doctor",
    "instances.apikey",
    "auth.user",
    "auth.group",
    "alerts.slackidentity",  # who a person is on Slack (the Slack buttons act as them)
)
# The admin's delivery actions (requeue failed notifications, re-enable a broken channel) need
# "change" on these; without them only a superuser could repair delivery.
# Deleting a login lockout (django-axes' access attempt) unlocks that person before the cool-off.
ADMIN_EXTRA_PERMISSIONS = ("alerts.change_notification", "alerts.change_channelstatus", "axes.delete_accessattempt")
# Permissions are created per app by post_migrate; these apps must have theirs before the groups.
REQUIRED_APPS = ("contenttypes", "auth", "axes", *PORTAL_APPS)


def _by_name(names: tuple[str, ...]) -> Q:
    query = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    return query


def role_permissions(using: str = DEFAULT_DB_ALIAS) -> dict[str, list[Permission]]:
    """Return the permissions of each group, each role including the one below it."""
    perms = Permission.objects.using(using).select_related("content_type")
    viewer = list(perms.filter(content_type__app_label__in=PORTAL_APPS, codename__startswith="view_"))
    operator = viewer + list(perms.filter(_by_name(OPERATOR_PERMISSIONS)))
    managed = Q(pk__in=[])
    for model in ADMIN_MANAGED_MODELS:
        app_label, model_name = model.split(".")
        managed |= Q(
            content_type__app_label=app_label,
            content_type__model=model_name,
            codename__in=[f"{action}_{model_name}" for action in ("add", "change", "delete")],
        )
    admin = {p.pk: p for p in operator}
    extra = managed | _by_name(ADMIN_EXTRA_PERMISSIONS) | Q(codename__startswith="view_")
    admin.update({p.pk: p for p in perms.filter(extra)})
    return {VIEWERS: viewer, OPERATORS: operator, ADMINISTRATORS: list(admin.values())}


def ensure_roles(sender: Any = None, using: str = DEFAULT_DB_ALIAS, verbosity: int = 0, **kwargs: Any) -> None:
    """Create or update the three groups; safe to run any number of times (a post_migrate handler).

    post_migrate fires once per app, and "alerts" migrates after "instances": the
    permissions of the apps involved are created here first, so the groups are complete
    whichever app's signal runs this.
    """
    for label in REQUIRED_APPS:
        create_permissions(global_apps.get_app_config(label), verbosity=0, interactive=False, using=using)
    with transaction.atomic(using=using):
        for name, perms in role_permissions(using).items():
            group, _created = Group.objects.using(using).get_or_create(name=name)
            group.permissions.set(perms)


def assign_role(user: User, role: str) -> Group:
    """Put ``user`` in the group of ``role`` (a key of ``ROLES``), out of the other two.

    Administrators get ``is_staff`` so they can open the admin; the other roles lose it
    (a superuser keeps it: they are above the roles).
    """
    if role not in ROLES:
        raise ValueError(f"papel desconhecido: {role!r}")
    ensure_roles()
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLES.values())}
    group = groups[ROLES[role]]
    with transaction.atomic():
        user.groups.remove(*[g for name, g in groups.items() if name != group.name])
        user.groups.add(group)
        user.is_staff = role == "administrador" or user.is_superuser
        user.save(update_fields=["is_staff"])
    return group
