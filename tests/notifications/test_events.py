"""Every event tells the patient once on each channel its kind goes on: the message rows (one
per channel, however often the worker runs) and what the providers received (one each)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from guahao.booking import services as booking
from guahao.booking.models import BlacklistEntry, Hold
from guahao.catalog.models import Doctor
from guahao.core import clock, outbox
from guahao.his import services as his
from guahao.notifications import reminders
from guahao.notifications.kinds import KINDS
from guahao.notifications.models import Message
from guahao.scheduling.models import Session
from tests import factories as f
from tests.notifications.conftest import SYSTEM_HIS, Everywhere, worker

pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]  # SMS are not held back by quiet hours


def emit(topic: str, **data: object) -> None:
    with transaction.atomic():
        outbox.event_emit(topic, **data)


def staff() -> booking.Actor:
    desk, _ = get_user_model().objects.get_or_create(username="desk", defaults={"is_staff": True})
    return booking.Actor.staff(desk)


def booked(e: Everywhere) -> str:
    e.book()
    return "registration.booked"


def cancelled_by_the_patient(e: Everywhere) -> str:
    registration = e.book()
    assert e.api.call("POST", f"/registrations/{registration.pk}/cancel", {})[0] == 200
    return "registration.cancelled"


def cancelled_by_staff(e: Everywhere) -> str:
    booking.registration_cancel(registration=e.book(), actor=staff())
    return "registration.cancelled_by_hospital"


def cancelled_by_the_his(e: Everywhere) -> str:
    booking.registration_cancel(registration=e.book(), actor=SYSTEM_HIS)
    return "registration.cancelled_by_hospital"


def moved(e: Everywhere) -> str:
    registration = e.book()
    later = f.schedule(e.schedule.department, e.schedule.doctor, day=e.schedule.date + dt.timedelta(days=1))
    status, body = e.api.call("POST", f"/registrations/{registration.pk}/reschedule", {"schedule_id": later.pk})
    assert status == 200, body
    return "registration.moved"


def payment_link(e: Everywhere) -> str:
    hold = Hold.objects.get(pk=e.hold()["id"])
    emit(
        "payment.link",
        account_id=hold.account_id,
        hold_id=hold.pk,
        expires_at=hold.expires_at.isoformat(),
        link="https://pay.example.cn/c/GH1",
        amount="¥51.00",
    )
    return "payment.link"


def hold_created(e: Everywhere) -> str:
    e.hold()  # the hold path writes its event with the hold
    return "hold.created"


def hold_expired(e: Everywhere) -> str:
    e.hold()
    clock.advance(dt.timedelta(minutes=16))
    assert booking.holds_expire() == 1
    return "hold.expired"


def _money(e: Everywhere, topic: str, **more: object) -> None:
    registration = e.book()
    emit(
        topic,
        payment_id=1,
        refund_id=1,
        account_id=registration.account_id,
        hold_id=registration.hold_id,
        registration_id=registration.pk,
        amount_fen=5100,
        **more,
    )


def payment_received(e: Everywhere) -> str:
    _money(e, "payment.received")
    return "payment.received"


def refund_started(e: Everywhere) -> str:
    _money(e, "refund.started", reason="cancelled")
    return "refund.started"


def refund_at_the_window(e: Everywhere) -> str:
    _money(e, "refund.started", reason="cancelled", at_window=True)
    return "refund.at_window"


def refund_finished(e: Everywhere) -> str:
    _money(e, "refund.finished", reason="cancelled")
    return "refund.finished"


def refund_failed(e: Everywhere) -> str:
    _money(e, "refund.failed", reason="cancelled")
    return "refund.failed"


def paid_too_late(e: Everywhere) -> str:
    hold = Hold.objects.get(pk=e.hold()["id"])
    emit(
        "refund.started",
        refund_id=1,
        payment_id=1,
        account_id=hold.account_id,
        hold_id=hold.pk,
        registration_id=None,
        amount_fen=5100,
        reason="late",
        booked=False,
    )
    return "payment.late_refunded"


def clinic_suspended(e: Everywhere) -> str:
    e.book()
    assert his.schedule_suspend(schedule=e.schedule, reason="医生外出会诊", actor=staff()) == 1
    return "schedule.suspended"


def clinic_suspended_while_held(e: Everywhere) -> str:
    e.hold()
    assert his.schedule_suspend(schedule=e.schedule, reason="医生外出会诊", actor=staff()) == 0
    return "schedule.suspended_hold"


def clinic_reopened(e: Everywhere) -> str:
    clinic_suspended(e)
    clock.advance(dt.timedelta(minutes=5))
    his.schedule_reopen(schedule=e.schedule, actor=staff())
    return "schedule.reopened"


def clinic_moved(e: Everywhere) -> str:
    e.book()
    his.schedule_move(schedule=e.schedule, actor=staff(), start=dt.time(14, 0), end=dt.time(15, 0))
    return "schedule.moved"


def reminded_the_day_before(e: Everywhere) -> str:
    e.book()  # tomorrow 08:00
    clock.advance(dt.timedelta(hours=8))  # 18:00
    assert reminders.reminders_day_before() == 1
    return "reminder.day_before"


def reminded_hours_before(e: Everywhere) -> str:
    afternoon = f.schedule(
        e.schedule.department, e.schedule.doctor, session=Session.PM, start=dt.time(14), end=dt.time(15)
    )
    e.book(afternoon)
    clock.advance(dt.timedelta(hours=26, minutes=30))  # tomorrow 12:30
    assert reminders.reminders_hours_before() == 1
    return "reminder.hours_before"


def barred(e: Everywhere) -> str:
    cancelled_by_the_patient(e)  # this hospital bars at the first cancellation
    assert BlacklistEntry.objects.count() == 1
    return "blacklist.barred"


def lifted(e: Everywhere) -> str:
    barred(e)
    booking.blacklist_lift(entry=BlacklistEntry.objects.get(), by="desk", note="申诉成立")
    return "blacklist.lifted"


def waitlist(topic: str) -> Callable[[Everywhere], str]:
    def scenario(e: Everywhere) -> str:
        data: dict[str, object] = {"entry_id": 7, "account_id": e.account.pk, "schedule_id": e.schedule.pk}
        if topic == "waitlist.offered":
            hold = Hold.objects.get(pk=e.hold()["id"])
            data |= {"hold_id": hold.pk, "expires_at": hold.expires_at.isoformat()}
        if topic == "waitlist.booked":
            data["registration_id"] = e.book().pk
        if topic in ("waitlist.expired", "waitlist.cancelled"):
            data["why"] = "waitlist.deadline" if topic == "waitlist.expired" else "rule.blacklisted"
        emit(topic, **data)
        return topic

    scenario.__name__ = topic.replace(".", "_")
    return scenario


SCENARIOS = [
    hold_created,
    hold_expired,
    payment_received,
    booked,
    moved,
    payment_link,
    cancelled_by_the_patient,
    cancelled_by_staff,
    cancelled_by_the_his,
    refund_started,
    refund_at_the_window,
    refund_finished,
    refund_failed,
    paid_too_late,
    reminded_the_day_before,
    reminded_hours_before,
    clinic_suspended,
    clinic_suspended_while_held,
    clinic_reopened,
    clinic_moved,
    barred,
    lifted,
    *(
        waitlist(t)
        for t in (
            "waitlist.joined",
            "waitlist.offered",
            "waitlist.booked",
            "waitlist.expired",
            "waitlist.cancelled",
            "lottery.entered",
        )
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_each_event_tells_the_patient_once_on_each_of_its_channels(everywhere, scenario, mailoutbox, capsys):
    kind = scenario(everywhere)
    spec = KINDS[kind]

    worker()
    worker()  # the worker again (a retry, a second worker): nothing is told twice

    told = Message.objects.filter(account=everywhere.account, kind=kind)
    assert sorted(told.values_list("channel", flat=True)) == sorted(spec.channels)
    assert set(told.values_list("status", flat=True)) == {"sent"}
    title = spec.zh[0]
    on_wechat = [m for m in everywhere.wechat.sent if m["template_id"] == f"T-{kind}"]
    assert len(on_wechat) == ("wechat" in spec.channels)
    assert on_wechat == [] or on_wechat[0]["touser"] == "oPatient0123456789abcdefghij"
    assert len([m for m in mailoutbox if m.subject.startswith(f"{title} - ")]) == ("email" in spec.channels)
    sms = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[sms]") and f"】{title}：" in line]
    assert len(sms) == ("sms" in spec.channels)
    inbox = everywhere.api.call("GET", "/messages")[1]
    assert [m["kind"] for m in inbox].count(kind) == 1


def test_every_kind_of_the_table_has_a_scenario_here():
    covered = {
        "registration.booked",
        "registration.moved",
        "registration.cancelled",
        "registration.cancelled_by_hospital",
        "hold.created",
    }
    covered |= {"hold.expired", "payment.received", "refund.started", "refund.finished", "refund.failed"}
    covered |= {"payment.late_refunded", "reminder.day_before", "reminder.hours_before", "schedule.suspended"}
    covered |= {
        "schedule.suspended_hold",
        "schedule.moved",
        "schedule.reopened",
        "blacklist.barred",
        "blacklist.lifted",
    }
    covered |= {"waitlist.joined", "waitlist.offered", "waitlist.booked", "waitlist.expired", "waitlist.cancelled"}
    covered |= {"lottery.entered", "payment.link", "refund.at_window"}
    # tests/payments/test_paying.py books then pays twice; tests/his/test_sync.py has the HIS
    # refuse a registration whose number the window gave out.
    assert set(KINDS) - covered == {"payment.second_refunded", "registration.his_refused", "registration.his_accepted"}


def test_a_registration_s_facts_are_in_the_reader_s_language(everywhere):
    schedule = everywhere.schedule
    registration = everywhere.book()
    worker()
    everywhere.api.language = "en"
    message = everywhere.api.call("GET", "/messages")[1][0]
    assert message["title"] == "Registration booked"
    assert message["body"] == (  # the doctor has no English name in the catalog: the Chinese one
        f"{everywhere.hospital.name_en} Cardiology 王建华, {schedule.date} 08:00, visit number 1 "
        f"(registration {registration.registration_number}). Please come on time and check in with the QR code of "
        "the registration."
    )
    assert (message["registration_id"], message["link"]) == (str(registration.pk), f"/registrations/{registration.pk}/")


def test_the_catalog_s_english_names_are_used_where_it_has_them(everywhere):
    Doctor.objects.filter(pk=everywhere.schedule.doctor_id).update(name_en="Wang Jianhua")
    everywhere.book()
    worker()
    everywhere.api.language = "en"
    message = everywhere.api.call("GET", "/messages")[1][0]
    assert message["body"].startswith(f"{everywhere.hospital.name_en} Cardiology Wang Jianhua, ")


def test_a_suspension_s_alternatives_name_doctors_in_the_reader_s_language(everywhere):
    dep = everywhere.schedule.department
    other = f.schedule(dep, f.doctor(dep, name="赵立新"))
    Doctor.objects.filter(pk=other.doctor_id).update(name_en="Zhao Lixin")
    clinic_suspended(everywhere)
    worker()
    said = {m["kind"]: m["body"] for m in everywhere.api.call("GET", "/messages")[1]}
    assert f"赵立新 {other.date}" in said["schedule.suspended"]
    everywhere.api.language = "en"
    said = {m["kind"]: m["body"] for m in everywhere.api.call("GET", "/messages")[1]}
    assert f"Zhao Lixin {other.date}" in said["schedule.suspended"]
