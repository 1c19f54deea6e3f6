"""Reminders: the day before at the hospital's time and N hours before, in the hospital's time
zone, once per registration and kind however often (and on however many workers) the job runs."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.catalog.models import Hospital
from guahao.core import clock
from guahao.notifications import reminders
from guahao.notifications.models import HospitalChannels, Message
from guahao.scheduling.models import Session
from tests import factories as f
from tests.booking.test_concurrency import race
from tests.notifications.conftest import worker

pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]


def at(day: dt.date, hh_mm: str, tz: str = "Asia/Shanghai") -> dt.datetime:
    return clock.at_local(day, dt.time.fromisoformat(hh_mm), tz)


def reminded(kind: str) -> list[tuple[int, str]]:
    return sorted(Message.objects.filter(kind=kind).values_list("registration_id", "channel"))


def test_the_day_before_at_six_pm_each_registration_of_tomorrow_is_reminded_once(everywhere):
    registration = everywhere.book()  # tomorrow 08:00
    today = f.today()
    with clock.travel(at(today, "17:59")):
        assert reminders.reminders_day_before() == 0
    with clock.travel(at(today, "18:00")):
        assert reminders.reminders_day_before() == 1
        assert reminders.reminders_day_before() == 0
        worker()
    assert reminded("reminder.day_before") == sorted((registration.pk, c) for c in ("email", "inbox", "sms", "wechat"))
    everywhere.api.language = "en"
    [message] = [m for m in everywhere.api.call("GET", "/messages")[1] if m["kind"] == "reminder.day_before"]
    assert message["title"] == "Your visit tomorrow"
    assert message["body"].startswith(f"Tomorrow, {registration.visit_date}, at about 08:00: ")


@pytest.mark.django_db(transaction=True)
def test_workers_running_the_job_at_once_remind_once(everywhere):
    registration = everywhere.book()
    with clock.travel(at(f.today(), "18:05")):
        results = race([reminders.reminders_day_before for _ in range(3)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert reminded("reminder.day_before") == sorted((registration.pk, c) for c in ("email", "inbox", "sms", "wechat"))


def test_a_hospital_s_own_reminder_time_and_time_zone(everywhere):
    Hospital.objects.filter(pk=everywhere.hospital.pk).update(timezone="Asia/Kathmandu")  # UTC+05:45
    HospitalChannels.objects.filter(hospital=everywhere.hospital).update(reminder_time=dt.time(19, 0))
    everywhere.book()
    today = f.today()
    with clock.travel(at(today, "21:14")):  # 18:59 in Kathmandu
        assert reminders.reminders_day_before() == 0
    with clock.travel(at(today, "21:15")):  # 19:00 there
        assert reminders.reminders_day_before() == 1


def test_registrations_booked_after_the_reminder_time_or_cancelled_are_not_reminded(everywhere):
    cancelled = everywhere.book()
    everywhere.api.call("POST", f"/registrations/{cancelled.pk}/cancel", {})
    with clock.travel(at(f.today(), "18:30")):
        late = f.schedule(f.department(everywhere.hospital, name="消化内科"))
        other = f.Api().login()
        _, hold = other.call("POST", "/holds", {"schedule_id": str(late.pk), "patient_id": other.add_patient()})
        assert other.call("POST", f"/holds/{hold['id']}/confirm", {})[0] == 201
        assert reminders.reminders_day_before() == 0


def test_two_hours_before_the_visit(everywhere):
    afternoon = f.schedule(everywhere.schedule.department, session=Session.PM, start=dt.time(14), end=dt.time(15))
    registration = everywhere.book(afternoon)
    tomorrow = f.today() + dt.timedelta(days=1)
    with clock.travel(at(tomorrow, "11:59")):
        assert reminders.reminders_hours_before() == 0
    with clock.travel(at(tomorrow, "12:00")):
        assert reminders.reminders_hours_before() == 1
        assert reminders.reminders_hours_before() == 0
        worker()
    [message] = [m for m in everywhere.api.call("GET", "/messages")[1] if m["kind"] == "reminder.hours_before"]
    assert message["title"] == "就诊提醒"
    assert message["body"].startswith(f"您约 2 小时后（{registration.visit_date} 14:00）在")


def test_a_registration_booked_within_the_last_hours_gets_no_hours_before_reminder(everywhere):
    afternoon = f.schedule(everywhere.schedule.department, session=Session.PM, start=dt.time(14), end=dt.time(15))
    tomorrow = f.today() + dt.timedelta(days=1)
    with clock.travel(at(tomorrow, "12:30")):
        everywhere.book(afternoon)
        assert reminders.reminders_hours_before() == 0


def test_reminders_can_be_turned_off(everywhere, settings):
    settings.REMINDER_DAY_BEFORE_AT = None
    settings.REMINDER_HOURS_BEFORE = 0
    everywhere.book()
    with clock.travel(at(f.today() + dt.timedelta(days=1), "07:00")):
        assert reminders.reminders_send_due() == {"day_before": 0, "hours_before": 0}
