"""From a hold to a registration, and what follows: cancel, check in, visit, no-show, blacklist."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from guahao.accounts.services import staff_token_create
from guahao.booking import services
from guahao.booking.models import BlacklistEntry, BookingEvent, Registration
from guahao.core import clock, outbox
from guahao.core.models import OutboxEvent
from guahao.scheduling.models import CancelPolicy, Slot, SlotState
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(api):
    """A patient of a free-of-charge hospital with a confirmed registration for tomorrow 08:00."""
    h = f.hospital()
    dep = f.department(h)
    sched = f.schedule(dep, f.doctor(dep))
    api.login()
    pid = api.add_patient()
    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
    status, reg = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 201, reg
    return h, sched, reg


def test_confirm_gives_a_registration_with_its_numbers(api, booked):
    _, sched, reg = booked
    assert reg["status"] == "booked"
    assert reg["slot_number"] == 1
    assert len(reg["registration_number"]) == 14 and reg["registration_number"].isdigit()
    assert reg["registration_number"].startswith(sched.date.strftime("%y%m%d"))
    assert dt.datetime.fromisoformat(reg["visit_time"]) == sched.starts_at
    assert reg["patient"]["id_number_masked"].count("*") == 8
    assert reg["cancellable"] is True
    status, listed = api.call("GET", "/registrations")
    assert status == 200 and [r["id"] for r in listed] == [reg["id"]]
    assert Slot.objects.get(schedule=sched, number=1).state == SlotState.BOOKED


def test_confirming_twice_books_once(api, booked):
    _, _, reg = booked
    hold_id = Registration.objects.get(pk=reg["id"]).hold_id
    status, problem = api.call("POST", f"/holds/{hold_id}/confirm", {})
    assert status == 409 and problem["code"] == "hold.not_active"
    assert Registration.objects.count() == 1


def test_cancel_before_the_cutoff_frees_the_slot(api, booked):
    _, sched, reg = booked
    status, body = api.call("POST", f"/registrations/{reg['id']}/cancel", {})
    assert status == 200 and body["status"] == "cancelled"
    assert Slot.objects.get(schedule=sched, number=1).state == SlotState.FREE
    status, detail = api.call("GET", f"/schedules/{sched.pk}")
    assert detail["available"] == 10
    status, again = api.call("POST", f"/registrations/{reg['id']}/cancel", {})
    assert status == 409 and again["code"] == "registration.state"


def test_the_patient_is_told_of_the_booking_and_of_the_cancellation_in_their_language(api, booked):
    h, sched, reg = booked
    api.call("POST", f"/registrations/{reg['id']}/cancel", {})
    outbox.deliver_all()  # the worker tells the patient
    status, messages = api.call("GET", "/messages")
    assert status == 200 and [m["kind"] for m in messages] == ["registration.cancelled", "registration.booked"]
    cancelled, booked_message = messages
    assert booked_message["title"] == "预约成功"
    for fact in (h.name, "心血管内科", "王建华", sched.date.isoformat(), "08:00", reg["registration_number"]):
        assert fact in booked_message["body"], fact
    assert "就诊序号 1" in booked_message["body"]
    assert cancelled["title"] == "挂号已取消" and reg["registration_number"] in cancelled["body"]
    api.language = "en"
    _, messages = api.call("GET", "/messages")
    assert messages[1]["title"] == "Registration booked"
    assert f"{h.name_en} Cardiology" in messages[1]["body"] and "visit number 1" in messages[1]["body"]
    assert messages[0]["body"].startswith(f"You cancelled registration {reg['registration_number']}")


@pytest.mark.clock("10:00")
def test_no_online_cancel_on_the_visit_day(api, booked):
    _, sched, reg = booked
    clock.advance(dt.timedelta(hours=14, minutes=5))  # 00:05 on the visit day
    status, problem = api.call("POST", f"/registrations/{reg['id']}/cancel", {})
    assert status == 409 and problem["code"] == "rule.cancel_cutoff"
    assert Registration.objects.get(pk=reg["id"]).status == "booked"
    assert Slot.objects.get(schedule=sched, number=1).state == SlotState.BOOKED


def test_cutoff_in_hours_before_the_visit(api):
    h = f.hospital(cancel_policy=CancelPolicy.HOURS_BEFORE, cancel_hours_before=2)
    sched = f.schedule(f.department(h), None)
    api.login()
    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": api.add_patient()})
    _, reg = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    with clock.travel(sched.starts_at - dt.timedelta(hours=1, minutes=59)):
        assert api.call("POST", f"/registrations/{reg['id']}/cancel", {})[1]["code"] == "rule.cancel_cutoff"
    with clock.travel(sched.starts_at - dt.timedelta(hours=2, minutes=1)):
        assert api.call("POST", f"/registrations/{reg['id']}/cancel", {})[0] == 200


def test_other_accounts_registrations_are_unknown(booked):
    _, _, reg = booked
    stranger = f.Api().login()
    assert stranger.call("GET", f"/registrations/{reg['id']}")[0] == 404
    status, problem = stranger.call("POST", f"/registrations/{reg['id']}/cancel", {})
    assert (status, problem["code"]) == (404, "not_found")
    assert Registration.objects.get(pk=reg["id"]).status == "booked"


def kiosk(hospital) -> str:
    user = f.staff_member(f"kiosk{f.phone()}", "operator", hospital)
    return staff_token_create(user=user, label="kiosk")


def test_kiosk_checks_in_by_qr_on_the_visit_day(booked):
    h, sched, reg = booked
    desk = f.Api()
    desk.token = kiosk(h)
    status, problem = desk.call("POST", "/checkin", {"qr": reg["qr"]})
    assert (status, problem["code"]) == (409, "checkin.wrong_day")
    with clock.travel(sched.starts_at - dt.timedelta(minutes=20)):
        status, body = desk.call("POST", "/checkin", {"qr": reg["qr"]})
        assert status == 200 and body["status"] == "checked_in"
        status, again = desk.call("POST", "/checkin", {"registration_number": reg["registration_number"]})
        assert (status, again["code"]) == (409, "registration.state")
    event = BookingEvent.objects.get(registration_id=reg["id"], kind="registration.checked_in")
    assert event.actor_type == "staff"


def test_forged_qr_and_other_hospitals_kiosk_are_refused(booked):
    h, sched, reg = booked
    desk = f.Api()
    desk.token = kiosk(f.hospital())
    with clock.travel(sched.starts_at - dt.timedelta(minutes=20)):
        status, problem = desk.call("POST", "/checkin", {"qr": reg["qr"][:-2] + "xx"})
        assert (status, problem["code"], problem["field"]) == (404, "not_found", "qr")
        status, problem = desk.call("POST", "/checkin", {"registration_number": reg["registration_number"]})
        assert (status, problem["code"]) == (404, "not_found")  # another hospital's number is not known
    assert Registration.objects.get(pk=reg["id"]).status == "booked"


def test_patient_checks_in_with_their_own_phone(api, booked):
    _, sched, reg = booked
    with clock.travel(sched.starts_at - dt.timedelta(minutes=5)):
        status, body = api.call("POST", "/checkin", {"registration_number": reg["registration_number"]})
    assert status == 200 and body["status"] == "checked_in"


@pytest.mark.clock("10:00")
def test_no_show_after_the_session_and_bar_after_two(api):
    h = f.hospital()
    dep = f.department(h)
    api.login()
    pid = api.add_patient()
    for day in (1, 2):
        sched = f.schedule(dep, None, day=f.today() + dt.timedelta(days=day))
        _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
        assert api.call("POST", f"/holds/{hold['id']}/confirm", {})[0] == 201
    clock.advance(dt.timedelta(days=1))
    assert services.registrations_mark_no_show() == 1
    assert not BlacklistEntry.objects.exists()
    clock.advance(dt.timedelta(days=1))
    assert services.registrations_mark_no_show() == 1
    entry = BlacklistEntry.objects.get()
    assert (entry.reason, entry.count) == ("no_shows", 2)
    assert entry.ends_at - entry.starts_at == dt.timedelta(days=90)
    later = f.schedule(dep, None, day=f.today() + dt.timedelta(days=1))
    status, problem = api.call("POST", "/holds", {"schedule_id": later.pk, "patient_id": pid})
    assert (status, problem["code"]) == (403, "rule.blacklisted")


def test_three_cancellations_in_30_days_bar_until_staff_lift_it(api):
    h = f.hospital()
    api.login()
    pid = api.add_patient()
    sched = f.schedule(f.department(h), None)
    for _ in range(3):
        _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
        _, reg = api.call("POST", f"/holds/{hold['id']}/confirm", {})
        assert api.call("POST", f"/registrations/{reg['id']}/cancel", {})[0] == 200
    entry = BlacklistEntry.objects.get()
    assert (entry.reason, entry.count) == ("cancellations", 3)
    status, problem = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
    assert problem["code"] == "rule.blacklisted"
    services.blacklist_lift(entry=entry, by="admin", note="patient explained by phone")
    _, hold = api.call("POST", "/holds", {"schedule_id": sched.pk, "patient_id": pid})
    _, reg = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert api.call("POST", f"/registrations/{reg['id']}/cancel", {})[0] == 200
    assert BlacklistEntry.objects.count() == 1  # the offences behind a lifted bar do not bar again


def test_staff_cancellations_do_not_count_towards_the_blacklist(booked):
    _, _, reg = booked
    staff = get_user_model().objects.create_user("desk", is_staff=True)
    registration = Registration.objects.get(pk=reg["id"])
    services.registration_cancel(registration=registration, actor=services.Actor.staff(staff))
    registration.refresh_from_db()
    assert (registration.status, registration.cancelled_by) == ("cancelled", "staff")
    assert registration.events.last().actor_id == "desk"
    told = OutboxEvent.objects.filter(topic="registration.cancelled").get()  # the patient is told by staff's name
    assert told.data == {
        "registration_id": registration.pk,
        "account_id": registration.account_id,
        "by": "staff",
        "tell_patient": True,
    }
