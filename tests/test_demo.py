"""The demo data a hospital evaluates Guahao with: realistic, complete, and bookable."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao import demo
from guahao.booking.models import BlacklistEntry, Rating, Registration
from guahao.catalog.models import Campus, Department, Doctor, Fee, Hospital
from guahao.core import clock
from guahao.his.models import HisConnection
from guahao.scheduling import services
from guahao.scheduling.models import CalendarDay, Schedule, ScheduleStatus, ScheduleTemplate
from tests import factories as f
from tests.conftest import TEST_TIME, starting_day

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    # Loaded at the hour the tests run at (a module's fixture starts before a test's clock is
    # set): at 20:00 the morning's clinics are over and would not be made; at 10:00 they are.
    with django_db_blocker.unblock(), clock.travel(clock.at_local(starting_day(), TEST_TIME, "Asia/Shanghai")):
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


def test_two_hospitals_run_a_waitlist_with_a_full_clinic_and_patients_waiting(loaded, api):
    from guahao.scheduling.models import RuleSet
    from guahao.waitlist import services as waitlist
    from guahao.waitlist.models import WaitlistEntry

    rules = {
        rs.hospital.code: (rs.waitlist_places, rs.waitlist_order, rs.waitlist_payment)
        for rs in RuleSet.objects.filter(department__isnull=True, doctor__isnull=True).select_related("hospital")
    }
    assert rules == {
        "renhe": (10, "random", "pay_after_hold"),
        "kangning": (5, "fifo", None),  # nothing is paid online there: booked at once
        "second": (None, None, None),  # its realtime HIS gives every slot itself
    }
    waiting = WaitlistEntry.objects.filter(status="waiting").select_related("schedule__hospital")
    clinics = {e.schedule for e in waiting}
    assert sorted(s.hospital.code for s in clinics) == ["kangning", "renhe"]
    for clinic in clinics:
        assert waitlist.waitlist_open_for(clinic), clinic  # full, and the 候补 button is there
        assert waiting.filter(schedule=clinic).count() == clinic.waitlist_active == 2
        assert clinic.date >= f.today() + dt.timedelta(days=2)  # open at any hour of loading
    renhe = next(c for c in clinics if c.hospital.code == "renhe")
    kangning = next(c for c in clinics if c.hospital.code == "kangning")

    demo_patient = type(api)().login("13800030000")  # one of those waiting at 仁和医院 (its README says so)
    [drawn] = demo_patient.call("GET", "/waitlist")[1]
    assert (drawn["schedule_id"], drawn["mode"], drawn["in_draw"], drawn["position"]) == (
        str(renhe.pk),
        "pay_after_hold",
        True,
        None,
    )
    newcomer = type(api)().login()
    clock.advance(dt.timedelta(minutes=10))  # after the demo was loaded (at this test's hour too)
    body = {"schedule_id": str(kangning.pk), "patient_id": newcomer.add_patient()}
    status, queued = newcomer.call("POST", "/waitlist", body)
    assert status == 201, queued
    assert (queued["mode"], queued["position"]) == ("book", 3)

    second_full = next(
        s
        for s in Schedule.objects.filter(hospital__code="second", status="open", date__gt=f.today())
        if not s.slots.filter(pool="platform", state="free").exists()
    )
    body = {"schedule_id": str(second_full.pk), "patient_id": newcomer.add_patient(relation="child", name="张小明")}
    assert newcomer.call("POST", "/waitlist", body)[1]["code"] == "waitlist.off"


def test_demo_doctors_have_an_english_introduction_and_patients_rated_some(loaded):
    assert not Doctor.objects.filter(intro_en="").exists()
    doctor = Doctor.objects.filter(hospital__code="renhe").select_related("department").first()
    assert doctor.department.name_en in doctor.intro_en and "years in clinical practice" in doctor.intro_en
    rated = Rating.objects.filter(hospital__code="kangning")
    assert rated.filter(status="published").exists() and rated.filter(status="pending").exists()
    assert not rated.exclude(registration__status__in=["checked_in", "visited"]).exists()


def test_the_demo_kiosk_opens_with_its_published_token_and_offers_the_window_s_slots(loaded):
    from django.test import Client

    kiosk = Client()
    assert kiosk.get(f"/kiosk/setup?token={demo.DEMO_KIOSK_TOKEN}")["Location"] == "/kiosk/"
    start = kiosk.get("/kiosk/").content.decode()
    assert "仁和医院" in start and "门诊大厅 1号机" in start
    onsite = Schedule.objects.filter(
        hospital__code="renhe", date__gte=f.today(), slots__pool="onsite", slots__state="free"
    )
    assert onsite.exists()


def test_the_demos_sandboxes_take_the_port_beside_the_web_port_or_another_when_it_is_taken():
    import socket

    from guahao import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        other = cli._port_beside("127.0.0.1", busy)  # the demo's simulator would fail to start there
        assert other != busy
    assert cli._port_beside("127.0.0.1", 70000) < 65536
