"""The demo data a hospital evaluates Guahao with: realistic, complete, and bookable."""

from __future__ import annotations

import pytest

from guahao import demo
from guahao.catalog.models import Campus, Department, Doctor, Fee, Hospital
from guahao.scheduling.models import Schedule, ScheduleStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        demo.load()
    yield
    with django_db_blocker.unblock():
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)


def test_demo_hospitals_departments_and_doctors(loaded):
    hospitals = list(Hospital.objects.order_by("code"))
    assert len(hospitals) == 2
    assert max(Campus.objects.filter(hospital=h).count() for h in hospitals) == 2
    assert Department.objects.filter(level=3).exists()
    leaves = [d for d in Department.objects.all() if not d.children.exists()]
    assert len(leaves) >= 20
    assert Doctor.objects.count() >= 40
    assert not Doctor.objects.filter(specialty="").exists()
    assert Fee.objects.filter(consultation_fee_fen__gt=0).exists()
    assert {d.name for d in Department.objects.filter(level=3)} & {"高血压专病门诊"}


def test_demo_schedules_cover_two_weeks_with_full_and_suspended_ones(loaded, api):
    today = f.today()
    days = {d for d in Schedule.objects.values_list("date", flat=True)}
    assert min(days) == today and len(days) >= 14
    assert Schedule.objects.filter(status=ScheduleStatus.SUSPENDED).count() == 1
    statuses = set()
    for dep in Department.objects.filter(schedules__isnull=False).distinct()[:40]:
        for day in api.call("GET", f"/departments/{dep.pk}/availability?days=14")[1]["days"]:
            statuses |= {s["status"] for s in day["schedules"]}
    assert {"available", "full", "not_released", "suspended"} <= statuses


def test_one_demo_hospital_charges_and_the_other_is_free(loaded, api):
    rules = {h["code"]: h["rules"] for h in api.call("GET", "/hospitals")[1]}
    assert sorted(r["payment_required"] for r in rules.values()) == [False, True]
