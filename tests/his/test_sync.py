"""Synced mode: the platform keeps its copy of the pool, syncs it from the HIS and writes each
registration and cancellation back."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from guahao.booking import services as booking
from guahao.booking.models import ActorType, BookingEvent, Registration
from guahao.core import outbox as events
from guahao.his import check, outbox, sync
from guahao.his.models import CallStatus, HisCall
from guahao.his.registry import adapter
from guahao.notifications.models import Message
from guahao.payments import services as payments
from guahao.scheduling.models import ScheduleStatus, SlotState
from tests import factories as f
from tests.his.conftest import connect, send_all

pytestmark = pytest.mark.django_db(transaction=True)


def book(api, schedule) -> dict:
    patient_id = api.add_patient(relation="other")
    status, hold = api.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient_id})
    assert status == 201, hold
    status, registration = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 201, registration
    return registration


def his_slots(c, his_id):
    return {s.number: s for s in adapter(c.connection).schedule(schedule_id=his_id).slots}


def test_sync_picks_up_new_changed_and_suspended_schedules(sim, api):
    c = connect(sim, "synced")
    schedule = c.schedule("S1")
    assert (schedule.doctor.name, schedule.location, schedule.fee_fen) == ("王建华", "门诊楼3层", 1200)
    assert sorted(schedule.slots.values_list("number", "pool")) == [
        (1, "platform"),
        (2, "platform"),
        (4, "platform"),
        (5, "platform"),
    ]

    sim.post(
        f"/admin/schedules/{c.sid('S1')}/change",
        {
            "location": "门诊楼5层 12诊室",
            "consultation_fee_fen": 1500,
            "add_slots": [
                {
                    "number": 7,
                    "period_starts_at": schedule.ends_at.isoformat(),
                    "period_ends_at": schedule.ends_at.isoformat(),
                }
            ],
        },
    )
    sync.hospital_sync(c.connection)
    schedule.refresh_from_db()
    assert (schedule.location, schedule.fee_fen) == ("门诊楼5层 12诊室", 1500)
    assert schedule.slots.filter(number=7, state=SlotState.FREE).exists()

    api.login()
    registration = book(api, schedule)
    assert his_slots(c, c.sid("S1"))[1].ref == registration["registration_number"]  # written back at once
    c.schedule("S2", doctor="doc2")  # a colleague the same morning: the alternative to offer

    sim.post(f"/admin/schedules/{c.sid('S1')}/suspend", {"reason": "医生外出会诊"})
    sync.hospital_sync(c.connection)
    schedule.refresh_from_db()
    assert (schedule.status, schedule.suspended_reason) == (ScheduleStatus.SUSPENDED, "医生外出会诊")
    assert Registration.objects.get(pk=registration["id"]).status == "cancelled"
    events.deliver_all()  # the worker tells the patient
    status, messages = api.call("GET", "/messages")
    assert status == 200 and [m["kind"] for m in messages] == ["schedule.suspended", "registration.booked"]
    assert "医生外出会诊" in messages[0]["body"] and "赵立新" in messages[0]["body"]
    assert messages[0]["data"]["alternatives"][0]["doctor"]["name"] == "赵立新"
    send_all()
    assert check.differences(c.connection) == []

    sync.hospital_sync(c.connection)  # the same suspension read again changes nothing
    events.deliver_all()
    assert Message.objects.filter(channel="inbox").count() == 2
    assert Message.objects.filter(channel="sms").count() == 2  # booked, suspended: by SMS too (console)


def test_a_clinic_moved_at_the_hospital_tells_each_patient_booked_its_new_hours_and_room(sim, api):
    c = connect(sim, "synced")
    schedule = c.schedule("S1")
    api.login()
    registration = book(api, schedule)
    day = schedule.date.isoformat()
    sim.post(
        f"/admin/schedules/{c.sid('S1')}/change",
        {"location": "门诊楼9层", "starts_at": f"{day}T09:00:00+08:00", "ends_at": f"{day}T10:00:00+08:00"},
    )
    sync.hospital_sync(c.connection)
    events.deliver_all()
    messages = api.call("GET", "/messages")[1]
    assert [m["kind"] for m in messages] == ["schedule.moved", "registration.booked"]
    assert "门诊楼9层" in messages[0]["body"] and "09:00" in messages[0]["body"]
    assert messages[0]["registration_id"] == registration["id"]

    sim.post(f"/admin/schedules/{c.sid('S1')}/change", {"consultation_fee_fen": 1500})  # not a move: no message
    sync.hospital_sync(c.connection)
    sync.hospital_sync(c.connection)  # nor read again
    events.deliver_all()
    assert len(api.call("GET", "/messages")[1]) == 2


def test_write_backs_that_keep_failing_are_retried_and_shown_to_staff(sim, api, admin_client):
    c = connect(sim, "synced")
    schedule = c.schedule("S1")
    sim.faults(error=1.0)
    api.login()
    registration = book(api, schedule)  # the patient is not kept waiting for the HIS
    assert registration["status"] == "booked"
    call = HisCall.objects.get(registration_id=registration["id"], kind="register")
    send_all()  # the job keeps trying, backing off
    call.refresh_from_db()
    assert call.status == CallStatus.PENDING and call.attempts >= outbox.ATTENTION_AFTER
    assert HisCall.objects.filter(outbox.failing()).get() == call
    page = admin_client.get("/console/his/hiscall/?attention=yes")
    assert registration["registration_number"] in page.content.decode()

    sim.faults()  # the HIS is back; until the write-back goes through, the check says so
    with pytest.raises(CommandError) as failed:
        call_command("his", "check", "--hospital", c.hospital.code)
    assert failed.value.returncode == 1
    admin_client.post("/console/his/hiscall/", {"action": "send_again", "_selected_action": [call.pk]})
    call.refresh_from_db()
    assert call.status == CallStatus.DONE
    event = BookingEvent.objects.get(kind="his.call_retried")
    assert (event.actor_type, event.registration_id) == ("staff", int(registration["id"]))
    assert his_slots(c, c.sid("S1"))[1].ref == registration["registration_number"]
    call_command("his", "check", "--hospital", c.hospital.code)  # agrees again: no error


def test_cancellation_here_is_written_back_after_the_registration(sim, api):
    c = connect(sim, "synced")
    schedule = c.schedule("S1")
    sim.faults(error=1.0)
    api.login()
    registration = book(api, schedule)
    status, _ = api.call("POST", f"/registrations/{registration['id']}/cancel")
    assert status == 200
    sim.faults()
    send_all()
    # Cancelled before the HIS had it: its registration is not sent at all (the HIS would book a
    # patient who has none); the cancel goes, and does nothing at the HIS.
    assert set(HisCall.objects.values_list("kind", "status")) == {("register", "dropped"), ("cancel", "done")}
    assert his_slots(c, c.sid("S1"))[1].state == "free"
    assert check.differences(c.connection) == []


def test_a_refused_registration_cancelled_here_is_never_sent_again_even_by_staff(sim, api, admin_client):
    c = connect(sim, "synced")
    schedule = c.schedule("S1")
    sim.faults(error=1.0)
    api.login()
    registration = book(api, schedule)
    window = sim.post("/admin/registrations", {"schedule_id": c.sid("S1"), "number": 1, "channel": "window"})
    sim.faults()
    send_all()
    call = HisCall.objects.get(registration_id=registration["id"], kind="register")
    assert call.status == CallStatus.FAILED  # the window had taken number 1: refused, shown to staff
    assert api.call("POST", f"/registrations/{registration['id']}/cancel")[0] == 200
    send_all()
    call.refresh_from_db()
    assert call.status == CallStatus.DROPPED and not HisCall.objects.filter(outbox.failing()).exists()

    sim.post(f"/admin/registrations/{window['ref']}/cancel", {})  # the window gives number 1 back
    admin_client.post("/console/his/hiscall/", {"action": "send_again", "_selected_action": [call.pk]})
    call.refresh_from_db()
    assert call.status == CallStatus.DROPPED
    assert his_slots(c, c.sid("S1"))[1].state == "free"  # no booking at the HIS for a refunded patient


def booked_then_refused(sim, api):  # type: ignore[no-untyped-def]
    """号源冲突: booked here while the HIS failed; the window gave out the same number meanwhile,
    so the write-back, sent once the HIS is back, is refused."""
    c = connect(sim, "synced")
    schedule = c.schedule("S1")
    sim.faults(error=1.0)
    phone = f.phone()
    api.login(phone)
    registration = book(api, schedule)
    window = sim.post("/admin/registrations", {"schedule_id": c.sid("S1"), "number": 1, "channel": "window"})
    sim.faults()
    send_all()
    call = HisCall.objects.get(registration_id=registration["id"], kind="register")
    assert call.status == CallStatus.FAILED
    return c, schedule, phone, registration, window, call


def test_a_registration_the_his_refuses_is_shown_as_such_to_its_patient_and_to_staff(sim, api, admin_client):
    """号源冲突: while the HIS could not be reached, the window gave out the number booked here.
    The patient is told not to come with it, once; staff find it, and a cancellation ends it."""
    from tests.web.test_pages import Browser

    c, schedule, phone, registration, _window, call = booked_then_refused(sim, api)
    events.deliver_all()

    status, messages = api.call("GET", "/messages")
    assert [m["kind"] for m in messages] == ["registration.his_refused", "registration.booked"]
    assert registration["registration_number"] in messages[0]["body"] and "全额退款" in messages[0]["body"]
    browser = Browser().login(phone)
    page = browser.get(f"/registrations/{registration['id']}/")
    assert 'id="his-refused"' in page and "请勿凭此挂号就诊" in page
    assert 'id="status">未获医院确认<' in page and "预约成功" not in page  # it does not look booked
    assert '<span class="badge warn">未获医院确认</span>' in browser.get("/registrations/")
    assert api.call("GET", f"/registrations/{registration['id']}")[1]["his_refused"] is True
    assert [r["his_refused"] for r in api.call("GET", "/registrations")[1]] == [True]
    status, refused = api.call("POST", "/checkin", {"registration_number": registration["registration_number"]})
    assert (status, refused["code"]) == (409, "his.registration_refused")  # the window sorts it out
    assert 'class="qr"' not in page  # no check-in code for a number the hospital gave to someone else

    listed = admin_client.get("/console/booking/registration/?his=refused").content.decode()
    assert registration["registration_number"] in listed
    order = admin_client.get(f"/console/booking/registration/{registration['id']}/change/").content.decode()
    assert "号源冲突" in order or "Refused by the HIS" in order

    admin_client.post("/console/his/hiscall/", {"action": "send_again", "_selected_action": [call.pk]})
    events.deliver_all()  # refused again: the patient is not told twice
    assert [m["kind"] for m in api.call("GET", "/messages")[1]].count("registration.his_refused") == 1

    staff = booking.Actor(ActorType.STAFF, "admin")
    payments.registration_cancel(
        registration=Registration.objects.get(pk=registration["id"]),
        actor=staff,
        reason="号源冲突",
        patient_asked=False,
    )
    events.deliver_all()
    assert api.call("GET", "/messages")[1][0]["kind"] == "registration.cancelled_by_hospital"
    assert not Registration.objects.filter(pk__in=outbox.registrations_refused()).exists()
    assert 'id="his-refused"' not in Browser().login(phone).get(f"/registrations/{registration['id']}/")
    # The number is the window's: it is not given to the next patient here (nor the waitlist).
    assert schedule.slots.get(number=1).state == SlotState.ELSEWHERE
    assert book(api, schedule)["slot_number"] != 1


def test_a_refused_registration_written_after_all_is_told_to_its_patient_as_standing(sim, api, admin_client):
    """The window gives the number back; staff send the write-back again and the HIS takes it:
    the patient, told not to come, is told the registration stands, and sees its check-in code."""
    from tests.web.test_pages import Browser

    c, _schedule, phone, registration, window, call = booked_then_refused(sim, api)

    sim.post(f"/admin/registrations/{window['ref']}/cancel", {})
    admin_client.post("/console/his/hiscall/", {"action": "send_again", "_selected_action": [call.pk]})
    events.deliver_all()
    call.refresh_from_db()
    assert call.status == CallStatus.DONE and his_slots(c, c.sid("S1"))[1].state == "booked"
    kinds = [m["kind"] for m in api.call("GET", "/messages")[1]]
    assert kinds == ["registration.his_accepted", "registration.his_refused", "registration.booked"]
    page = Browser().login(phone).get(f"/registrations/{registration['id']}/")
    assert 'id="his-refused"' not in page and 'class="qr"' in page
    assert api.call("GET", f"/registrations/{registration['id']}")[1]["his_refused"] is False
    order = admin_client.get(f"/console/booking/registration/{registration['id']}/change/").content.decode()
    assert "Written to the HIS after all" in order or "已补写入 HIS" in order


def test_his_check_names_every_difference(sim, api):
    c = connect(sim, "synced")
    schedule = c.schedule("S1")
    sim.post("/admin/registrations", {"schedule_id": c.sid("S1"), "number": 2, "channel": "window"})
    sim.post(f"/admin/schedules/{c.sid('S1')}/suspend", {"reason": "停电"})
    found = check.differences(c.connection)
    assert any("here open, HIS suspended" in line for line in found)
    assert any("No.2: here free, HIS booked" in line for line in found)
    sync.hospital_sync(c.connection)
    assert check.differences(c.connection) == []
    assert schedule.slots.get(number=2).state == SlotState.ELSEWHERE
