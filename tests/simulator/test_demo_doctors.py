"""The demo's doctors: ``make run`` starts with doctors on every number, the banned one included."""

from __future__ import annotations

import io
from collections import Counter

import pytest

from instances.checks import run_cycle
from instances.demo_doctors import seed_demo_doctors
from instances.doctor_fields import normalize_crm, normalize_phone
from instances.models import Doctor, Instance, Status
from instances.simulator import GatewaySimulator
from instances.simulator.demo import DEMO_DOCTORS, DEMO_FLEET
from julia_monitor.management.commands.run_demo import Command

pytestmark = pytest.mark.django_db
API_KEY = "simulator-key"


def per_instance() -> Counter[str]:
    return Counter(Doctor.objects.values_list("preferred_instance__name", flat=True))


def test_the_demo_doctors_are_spread_over_the_whole_fleet():
    assert seed_demo_doctors() == len(DEMO_DOCTORS)

    counts = per_instance()
    assert set(counts) == {member.name for member in DEMO_FLEET}  # every number has doctors
    assert counts["julia-ce-01"] == 5  # the banned one: something to move at once
    for doctor in Doctor.objects.all():
        assert doctor.name.startswith(("Dr. ", "Dra. ")) and doctor.especialidade
        assert normalize_phone(doctor.phone_number) == doctor.phone_number
        assert normalize_crm(doctor.crm) == doctor.crm


def test_seeding_again_changes_nothing_and_keeps_what_people_changed():
    seed_demo_doctors()
    moved = Doctor.objects.get(preferred_instance__name="julia-ce-01", name="Dr. Gustavo Holanda")
    moved.preferred_instance = Instance.objects.get(name="julia-sp-03")
    moved.save()
    before = per_instance()

    assert seed_demo_doctors() == 0

    assert Doctor.objects.count() == len(DEMO_DOCTORS)
    assert per_instance() == before
    assert Instance.objects.count() == len(DEMO_FLEET)


def test_the_first_check_cycle_finds_the_seeded_numbers_and_the_banned_ones_doctors(settings):
    seed_demo_doctors()
    with GatewaySimulator.demo(seed=1, changes=False, api_key=API_KEY) as sim:
        settings.EVOLUTION_API_URL = sim.url
        settings.EVOLUTION_API_KEY = API_KEY

        summary = run_cycle()

    assert summary.discovered == 0  # already registered by the seeding, not twice
    banned = Instance.objects.get(name="julia-ce-01")
    assert banned.status == Status.BANNED
    assert banned.doctors.count() == 5
    assert Instance.objects.exclude(phone_number="").count() == len(DEMO_FLEET)


def test_run_demo_seeds_the_doctors_when_it_drives_the_simulator(settings):
    settings.USING_SIMULATOR = True
    out = io.StringIO()
    command = Command(stdout=out)

    command._prepare_database()
    command._prepare_database()  # every start

    assert Doctor.objects.count() == len(DEMO_DOCTORS)
    assert out.getvalue().count("médicos de demonstração cadastrados") == 1
