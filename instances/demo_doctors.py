"""The demo's doctors (``make run``): written into the database each start, missing ones only.

Doctors are found by phone number and never rewritten: a doctor edited or moved to another
instance during a demo stays so across restarts. Their preferred instances, the demo fleet's
numbers, are registered here too when missing, as the first check cycle would register them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from instances.models import Doctor, Instance
from instances.simulator.demo import DEMO_DOCTORS, DEMO_FLEET


def seed_demo_doctors() -> int:
    """Create the demo doctors that are missing (and their instances); return how many doctors were created."""
    with transaction.atomic():
        instances = {}
        for member in DEMO_FLEET:
            instances[member.name], _ = Instance.objects.get_or_create(
                name=member.name,
                defaults={
                    "capacity_per_hour": settings.DEFAULT_CAPACITY_PER_HOUR,
                    "capacity_per_day": settings.DEFAULT_CAPACITY_PER_DAY,
                },
            )
        existing = set(
            Doctor.objects.filter(phone_number__in=[d.phone for d in DEMO_DOCTORS]).values_list(
                "phone_number", flat=True
            )
        )
        missing = [
            Doctor(
                name=doctor.name,
                phone_number=doctor.phone,
                crm=doctor.crm,
                especialidade=doctor.specialty,
                preferred_instance=instances[doctor.instance],
            )
            for doctor in DEMO_DOCTORS
            if doctor.phone not in existing
        ]
        Doctor.objects.bulk_create(missing)
    return len(missing)
