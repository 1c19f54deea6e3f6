"""SMS keep to the quiet hours (22:00-07:00 of the hospital's day, urgent messages excepted) and
to a daily limit per phone, both configurable; checked with a moved clock."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from guahao.booking import services as booking
from guahao.booking.models import Registration
from guahao.core import clock
from guahao.his import services as his
from guahao.notifications import reminders
from guahao.notifications import services as notifications
from guahao.notifications.models import Message, SmsDay
from guahao.scheduling.models import Session
from tests import factories as f
from tests.notifications.conftest import worker

pytestmark = pytest.mark.django_db


def sms_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("[sms]") and "验证码" not in line]


def at(day: dt.date, hh_mm: str) -> dt.datetime:
    return clock.at_local(day, dt.time.fromisoformat(hh_mm), "Asia/Shanghai")


@pytest.mark.clock("22:30")
def test_a_booking_at_night_is_told_by_sms_at_seven_and_at_once_everywhere_else(everywhere, capsys, mailoutbox):
    everywhere.book()
    worker()
    sms = Message.objects.get(kind="registration.booked", channel="sms")
    tomorrow = f.today() + dt.timedelta(days=1)
    assert (sms.status, sms.next_at) == ("pending", at(tomorrow, "07:00"))
    assert sms_lines(capsys) == []
    assert len(everywhere.wechat.sent) == len(mailoutbox) == 1  # WeChat and e-mail wake nobody

    with clock.travel(at(tomorrow, "06:59")):
        worker()
    assert sms_lines(capsys) == []
    with clock.travel(at(tomorrow, "07:00")):
        worker()
    assert len(sms_lines(capsys)) == 1
    sms.refresh_from_db()
    assert sms.status == "sent"


@pytest.mark.clock("22:30")
def test_a_booked_sms_held_for_the_morning_is_not_sent_once_the_registration_ended(everywhere, capsys):
    """Booked at night, cancelled before seven: the morning brings the cancellation, not a
    "booked, please come on time" that no longer holds."""
    registration = everywhere.book()
    worker()
    assert everywhere.api.call("POST", f"/registrations/{registration.pk}/cancel")[0] == 200
    worker()
    tomorrow = f.today() + dt.timedelta(days=1)
    with clock.travel(at(tomorrow, "07:00")):
        worker()
    booked = Message.objects.get(kind="registration.booked", channel="sms")
    assert (booked.status, booked.last_error) == ("skipped", "the registration no longer stands")
    lines = sms_lines(capsys)
    assert any("挂号已取消" in line for line in lines) and not any("预约成功" in line for line in lines)


@pytest.mark.clock("22:30")
def test_a_booked_sms_held_for_the_morning_is_not_sent_after_the_his_refused_the_registration(everywhere, capsys):
    registration = everywhere.book()
    worker()
    _tell(everywhere, "registration.his_refused", "refused", registration)
    worker()
    booked = Message.objects.get(kind="registration.booked", channel="sms")
    assert (booked.status, booked.last_error) == ("skipped", "superseded by registration.his_refused")
    with clock.travel(at(f.today() + dt.timedelta(days=1), "07:00")):
        worker()
    lines = sms_lines(capsys)
    assert len(lines) == 1 and "未能写入医院系统" in lines[0]  # urgent: at once, and alone


@pytest.mark.clock("23:15")
def test_a_suspension_is_urgent_and_goes_by_sms_in_the_night(everywhere, capsys):
    everywhere.book()
    worker()
    capsys.readouterr()
    desk = booking.Actor.staff(get_user_model().objects.create_user("desk", is_staff=True))
    his.schedule_suspend(schedule=everywhere.schedule, reason="医生外出会诊", actor=desk)
    worker()
    [line] = sms_lines(capsys)
    assert "【仁和医院】停诊：" in line and "医生外出会诊" in line


@pytest.mark.clock("23:30")
def test_quiet_hours_follow_the_setting(everywhere, capsys, settings):
    settings.SMS_QUIET_HOURS = (dt.time(0, 0), dt.time(6, 0))
    everywhere.book()
    worker()
    assert len(sms_lines(capsys)) == 1  # 23:30 is not quiet at this platform


@pytest.mark.clock("04:00")
def test_a_reminder_held_back_until_after_the_visit_began_is_not_sent(everywhere, capsys, settings):
    settings.REMINDER_HOURS_BEFORE = 3
    dep = everywhere.schedule.department
    today = f.today()
    early = f.schedule(dep, day=today + dt.timedelta(days=1), session=Session.AM, start=dt.time(7), end=dt.time(8))
    everywhere.book(early)  # tomorrow 07:00
    worker()
    capsys.readouterr()
    with clock.travel(at(today + dt.timedelta(days=1), "04:30")):
        assert reminders.reminders_hours_before() == 1
        worker()
    sms = Message.objects.get(kind="reminder.hours_before", channel="sms")
    assert sms.next_at == sms.expires_at == at(today + dt.timedelta(days=1), "07:00")
    with clock.travel(at(today + dt.timedelta(days=1), "07:00")):
        worker()
    sms.refresh_from_db()
    assert (sms.status, sms.last_error) == ("skipped", "too late to matter")
    assert [line for line in sms_lines(capsys) if "就诊提醒" in line] == []
    assert Message.objects.get(kind="reminder.hours_before", channel="wechat").status == "sent"


def _tell(everywhere, kind: str, key: str, registration: Registration | None = None) -> None:
    """A message of ``kind`` to the account (about ``registration``, with its facts)."""
    facts = notifications.visit_facts(registration) if registration else {"hospital": everywhere.hospital.name}
    with transaction.atomic():
        notifications.notice(
            account_id=everywhere.account.pk,
            kind=kind,
            key=key,
            hospital_id=everywhere.hospital.pk,
            facts=facts | {"patient": "张伟"},
            registration_id=registration.pk if registration else None,
        )


@pytest.mark.clock("10:00")
def test_a_phone_gets_at_most_the_daily_limit_of_sms_but_urgent_ones(everywhere, capsys, settings):
    settings.SMS_DAILY_LIMIT = 2
    for n in range(3):
        _tell(everywhere, "blacklist.lifted", f"lifted:{n}")
    worker()
    statuses = list(Message.objects.filter(channel="sms").order_by("pk").values_list("status", "last_error"))
    assert statuses == [("sent", ""), ("sent", ""), ("skipped", "the phone's SMS limit for today is reached")]
    assert len(sms_lines(capsys)) == 2
    assert Message.objects.filter(channel="wechat", status="sent").count() == 3  # other channels keep going

    _tell(everywhere, "registration.cancelled_by_hospital", "urgent")  # urgent: always
    worker()
    assert len(sms_lines(capsys)) == 1

    with clock.travel(clock.now() + dt.timedelta(days=1)):  # a new day
        _tell(everywhere, "blacklist.lifted", "lifted:tomorrow")
        worker()
    assert len(sms_lines(capsys)) == 1
    assert sorted(SmsDay.objects.values_list("count", flat=True)) == [1, 3]
    assert everywhere.account.phone not in str(list(SmsDay.objects.values()))  # only a keyed hash of it


@pytest.mark.clock("10:00")
def test_no_reminder_asks_to_come_with_a_registration_the_his_refused_until_it_took_it_after_all(everywhere):
    registration = everywhere.book()
    worker()
    _tell(everywhere, "registration.his_refused", "refused", registration)
    day_before = at(registration.visit_date - dt.timedelta(days=1), "18:00")
    with clock.travel(day_before):
        reminders.reminders_day_before()
        worker()
    assert not Message.objects.filter(kind="reminder.day_before").exists()  # told not to come: no "come"
    _tell(everywhere, "registration.his_accepted", "accepted", registration)
    with clock.travel(day_before):
        reminders.reminders_day_before()
        worker()
    assert Message.objects.filter(kind="reminder.day_before", channel="inbox").count() == 1
