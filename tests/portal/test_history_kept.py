"""History is never deleted: an instance with alerts is deactivated, not deleted, and the admin's
actions check the permission they change."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.db.models import ProtectedError
from django.test import Client

from alerts.choices import NotificationKind
from alerts.models import Alert, Notification
from instances.models import ApiKey, Instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> tuple[Client, User]:
    """A staff login with no permission yet; tests grant what they need."""
    user = User.objects.create_user("equipe", password="senha-forte-123", is_staff=True)
    client.force_login(user)
    return client, user


def grant(user: User, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def test_an_instance_with_alerts_cannot_be_deleted_and_its_outbox_stays(make_alert) -> None:
    alert = make_alert("zap-01")
    alert.queue_notifications(NotificationKind.FIRING, batch="b1", at=alert.first_seen_at)

    with pytest.raises(ProtectedError):
        Instance.objects.get(name="zap-01").delete()

    assert Alert.objects.filter(pk=alert.pk).exists()
    assert Notification.objects.filter(alert=alert).count() == alert.notifications.count() > 0


def test_the_admin_offers_deactivation_not_deletion(staff, make_instance) -> None:
    client, user = staff
    grant(user, "view_instance", "change_instance", "delete_instance")
    instance = make_instance("zap-01")

    page = client.get(f"/admin/instances/instance/{instance.pk}/delete/")

    assert page.status_code == 403
    assert Instance.objects.filter(pk=instance.pk).exists()


def test_revoking_api_keys_needs_the_change_permission(staff) -> None:
    client, user = staff
    grant(user, "view_apikey")
    key, _secret = ApiKey.issue("integração")

    client.post("/admin/instances/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.is_active is True

    grant(user, "change_apikey")
    user = User.objects.get(pk=user.pk)  # drop the cached permissions
    client.force_login(user)
    client.post("/admin/instances/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.is_active is False
