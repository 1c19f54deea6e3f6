"""The demo data a hospital evaluates Guahao with: realistic, complete, and bookable."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao import demo
from guahao.booking.models import BlacklistEntry, Registration
from guahao.catalog.models import Campus, Department, Doctor, Fee, Hospital
from guahao.core import clock
from guahao.his.models import HisConnection
from guahao.scheduling import services
from guahao.scheduling.models import CalendarDay, Schedule, ScheduleStatus, ScheduleTemplate
from tests import factories as f
from tests.conftest import TEST_TIME

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    # Loaded at the hour the tests run at (a module's fixture starts before a test's clock is
    # set): at 20:00 the morning's clinics are over and would not be made; at 10:00 they are.
    today = clock.local_today("Asia/Shanghai")
    with django_db_blocker.unblock(), clock.travel(clock.at_local(today, TEST_TIME, "Asia/Shanghai")):
        demo.load()
    yield
    with django_db_blocker.unblock():
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)


def test_demo_hospitals_departments_and_doctors(loaded):
    hospitals = list(Hospital.objects.order_by("code"))
    assert [h.code for h in hospitals] == ["kangning", "renhe", "second"]
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
    days = {d for d in Schedule.objects.filter(date__gte=today).values_list("date", flat=True)}
    assert min(days) == today and len(days) >= 14
    assert Schedule.objects.filter(status=ScheduleStatus.SUSPENDED).count() == 1
    statuses = set()
    for dep in Department.objects.filter(schedules__isnull=False).distinct()[:40]:
        for day in api.call("GET", f"/departments/{dep.pk}/availability?days=14")[1]["days"]:
            statuses |= {s["status"] for s in day["schedules"]}
    assert {"available", "full", "not_released", "suspended"} <= statuses


def test_one_demo_hospital_charges_and_the_other_is_free(loaded, api):
    rules = {h["code"]: h["rules"] for h in api.call("GET", "/hospitals")[1]}
    assert {code: r["payment_required"] for code, r in rules.items()} == {
        "kangning": False,
        "renhe": True,
        "second": False,
    }


def test_the_hospital_without_a_his_runs_on_templates_generated_at_load(loaded, api):
    kangning = Hospital.objects.get(code="kangning")
    assert not HisConnection.objects.filter(hospital=kangning).exists()
    templates = ScheduleTemplate.objects.filter(hospital=kangning)
    assert templates.count() == 6 + 12  # the general clinic Monday to Saturday, six doctors twice a week
    made = Schedule.objects.filter(hospital=kangning, date__gte=f.today())  # the two weeks past: their history
    assert made.exists() and not made.filter(template__isnull=True).exists()
    days = set(made.values_list("date", flat=True))
    assert min(days) >= f.today() and max(days) <= f.today() + dt.timedelta(days=13)
    closed = CalendarDay.objects.get(hospital=kangning)
    assert not made.filter(date=closed.date, department=closed.department).exists()
    assert not made.filter(date__week_day=1).exists()  # no clinics on Sundays
    # generated again (the worker's hourly run): nothing twice
    assert services.schedules_generate(hospital=kangning, start=f.today(), days=14, actor="demo").created == []
    bookable = [
        s
        for d in made.values_list("department", flat=True).distinct()
        for day in api.call("GET", f"/departments/{d}/availability?days=7")[1]["days"]
        for s in day["schedules"]
        if s["status"] == "available"
    ]
    assert bookable


def test_the_hospital_without_a_his_has_two_weeks_of_history_for_its_console(loaded):
    kangning = Hospital.objects.get(code="kangning")
    past = Registration.objects.filter(hospital=kangning, visit_date__lt=f.today())
    statuses = set(past.values_list("status", flat=True))
    assert {"visited", "no_show", "cancelled"} <= statuses and "booked" not in statuses
    assert past.count() >= 100
    assert not Schedule.objects.filter(hospital=kangning, template__isnull=True).exists()
    bar = BlacklistEntry.objects.get(hospital=kangning)  # the patient who missed two visits
    assert bar.reason == "no_shows" and bar.causes.count() == 2 and bar.ends_at > clock.now()
