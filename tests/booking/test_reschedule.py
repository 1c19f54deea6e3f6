"""改约: moving a booked registration to another clinic or period of its department in one step."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.accounts.services import staff_token_create
from guahao.booking.models import BookingEvent, Registration
from guahao.core import clock, outbox
from guahao.core.models import OutboxEvent
from guahao.payments.models import Payment, Refund
from guahao.scheduling.models import Session, Slot, SlotState
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(api):
    """A patient booked tomorrow 08:00 at a free-of-charge hospital; the department has a
    clinic the day after with the same doctor, and one tomorrow afternoon."""
    h = f.hospital()
    dep = f.department(h)
    doctor = f.doctor(dep)
    tomorrow = f.schedule(dep, doctor)
    later = f.schedule(dep, doctor, day=f.today() + dt.timedelta(days=2))
    afternoon = f.schedule(
        dep, f.doctor(dep, name="赵立新"), session=Session.PM, start=dt.time(14, 0), end=dt.time(15, 0)
    )
    api.login()
    pid = api.add_patient()
    _, hold = api.call("POST", "/holds", {"schedule_id": tomorrow.pk, "patient_id": pid})
    status, reg = api.call("POST", f"/holds/{hold['id']}/confirm", {})
    assert status == 201, reg
    return {"hospital": h, "dep": dep, "tomorrow": tomorrow, "later": later, "afternoon": afternoon, "reg": reg}


def _state(reg_id) -> tuple[str, list[str]]:
    """What a refused move must leave as it was: the registration's status and every slot's state."""
    return Registration.objects.get(pk=reg_id).status, list(Slot.objects.order_by("pk").values_list("state", flat=True))


def test_a_move_takes_the_new_slot_frees_the_old_and_tells_the_patient(api, booked):
    reg = booked["reg"]
    status, moved = api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": booked["later"].pk})

    assert status == 200, moved
    assert moved["status"] == "booked" and moved["id"] != reg["id"]
    assert moved["visit_date"] == booked["later"].date.isoformat() and moved["slot_number"] == 1
    old = Registration.objects.get(pk=reg["id"])
    assert old.status == "moved" and old.moved_to_id == int(moved["id"])
    assert Slot.objects.get(pk=old.slot_id).state == SlotState.FREE
    assert Slot.objects.get(pk=Registration.objects.get(pk=moved["id"]).slot_id).state == SlotState.BOOKED
    _, listed = api.call("GET", "/registrations")
    assert {(r["id"], r["status"]) for r in listed} == {(reg["id"], "moved"), (moved["id"], "booked")}
    assert api.call("GET", f"/registrations/{reg['id']}")[1]["moved_to_id"] == moved["id"]
    # the old clinic shows its slot again, and the waitlist hears of it
    assert api.call("GET", f"/schedules/{booked['tomorrow'].pk}")[1]["available"] == 10
    assert OutboxEvent.objects.filter(topic="slot.freed", data__schedule_id=booked["tomorrow"].pk).exists()
    kinds = list(
        BookingEvent.objects.filter(registration_id__in=[reg["id"], moved["id"]]).values_list("kind", flat=True)
    )
    assert "registration.moved" in kinds and "registration.moved_in" in kinds

    outbox.deliver_all()
    _, messages = api.call("GET", "/messages")
    assert messages[0]["kind"] == "registration.moved" and messages[0]["title"] == "改约成功"
    assert moved["registration_number"] in messages[0]["body"]
    assert booked["later"].date.isoformat() in messages[0]["body"]
    assert "registration.booked" not in [m["kind"] for m in messages[:1]]


def test_a_move_within_the_same_day_is_not_counted_against_itself(api, booked):
    """One registration per department per day: the one being moved does not count."""
    reg = booked["reg"]
    status, moved = api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": booked["afternoon"].pk})
    assert status == 200, moved
    assert moved["session"] == "pm" and moved["doctor"]["name"] == "赵立新"


def test_a_move_to_another_period_of_the_same_clinic(api, booked):
    reg = booked["reg"]
    second = booked["tomorrow"].periods.order_by("starts_at")[1]
    status, moved = api.call(
        "POST",
        f"/registrations/{reg['id']}/reschedule",
        {"schedule_id": booked["tomorrow"].pk, "period_id": second.pk},
    )
    assert status == 200, moved
    assert moved["visit_time"].endswith("08:30:00+08:00") and moved["slot_number"] == 6
    status, problem = api.call(
        "POST",
        f"/registrations/{moved['id']}/reschedule",
        {"schedule_id": booked["tomorrow"].pk, "period_id": second.pk},
    )
    assert (status, problem["code"], problem["field"]) == (422, "reschedule.same_clinic", "period_id")


def test_a_move_is_not_a_way_round_the_limits(api, booked):
    """The patient already has a registration in the department on the later day: moving there
    would make two, and is refused by that rule; nothing changes."""
    reg = booked["reg"]
    pid = reg["patient"]["id"]
    _, hold = api.call("POST", "/holds", {"schedule_id": booked["later"].pk, "patient_id": pid})
    assert api.call("POST", f"/holds/{hold['id']}/confirm", {})[0] == 201
    before = _state(reg["id"])

    status, problem = api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": booked["later"].pk})

    assert (status, problem["code"]) == (409, "rule.one_per_department_per_day")
    assert _state(reg["id"]) == before
    assert Registration.objects.filter(status="booked").count() == 2


def test_refusals_name_the_field_and_change_nothing(api, booked):
    reg = booked["reg"]
    other = f.schedule(f.department(booked["hospital"], "消化内科"))
    before = _state(reg["id"])
    path = f"/registrations/{reg['id']}/reschedule"

    status, problem = api.call("POST", path, {"schedule_id": other.pk})
    assert (status, problem["code"], problem["field"]) == (422, "reschedule.other_department", "schedule_id")
    status, problem = api.call("POST", path, {"schedule_id": 999999})
    assert (status, problem["code"], problem["field"]) == (404, "not_found", "schedule_id")
    status, problem = api.call("POST", path, {"schedule_id": booked["tomorrow"].pk})
    assert (status, problem["code"]) == (422, "reschedule.same_clinic")
    status, problem = api.call("POST", path, {})
    assert status == 422 and problem["field"] == "schedule_id"
    stranger = f.Api().login()
    assert stranger.call("POST", path, {"schedule_id": booked["later"].pk})[0] == 404
    assert _state(reg["id"]) == before


def test_a_full_clinic_is_refused_with_alternatives_and_nothing_changes(api, booked):
    reg = booked["reg"]
    full = f.schedule(booked["dep"], day=f.today() + dt.timedelta(days=3), slots_per_period=1, end=dt.time(8, 30))
    rival = f.Api().login()
    _, hold = rival.call("POST", "/holds", {"schedule_id": full.pk, "patient_id": rival.add_patient()})
    assert hold["slot_number"] == 1
    before = _state(reg["id"])

    status, problem = api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": full.pk})

    assert (status, problem["code"]) == (409, "slot.unavailable")
    assert _state(reg["id"]) == before


def test_after_the_cutoff_the_patient_is_refused_and_staff_need_a_reason(api, booked):
    reg = booked["reg"]
    h = booked["hospital"]
    desk = f.Api()
    desk.token = staff_token_create(user=f.staff_member("window1", "operator", h))
    with clock.travel(booked["tomorrow"].starts_at - dt.timedelta(hours=1)):
        status, problem = api.call(
            "POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": booked["later"].pk}
        )
        assert (status, problem["code"]) == (409, "rule.cancel_cutoff")
        path = f"/staff/registrations/{reg['id']}/reschedule"
        status, problem = desk.call("POST", path, {"schedule_id": booked["later"].pk})
        assert (status, problem["code"], problem["field"]) == (422, "staff.reason_required", "reason")
        assert Registration.objects.get(pk=reg["id"]).status == "booked"
        status, moved = desk.call("POST", path, {"schedule_id": booked["later"].pk, "reason": "患者来电，临时出差"})
    assert status == 200, moved
    assert moved["status"] == "booked" and moved["visit_date"] == booked["later"].date.isoformat()
    assert moved["id_number_masked"].count("*") == 8
    event = BookingEvent.objects.get(registration_id=reg["id"], kind="registration.moved")
    assert (event.actor_type, event.actor_id, event.data["reason"]) == ("staff", "window1", "患者来电，临时出差")


def test_staff_of_another_hospital_cannot_move_it(booked):
    reg = booked["reg"]
    elsewhere = f.hospital()
    desk = f.Api()
    desk.token = staff_token_create(user=f.staff_member("window2", "operator", elsewhere))
    status, _ = desk.call("POST", f"/staff/registrations/{reg['id']}/reschedule", {"schedule_id": booked["later"].pk})
    assert status == 404
    viewer = f.Api()
    viewer.token = staff_token_create(user=f.staff_member("viewer1", "viewer", booked["hospital"]))
    status, _ = viewer.call("POST", f"/staff/registrations/{reg['id']}/reschedule", {"schedule_id": booked["later"].pk})
    assert status == 403
    assert Registration.objects.get(pk=reg["id"]).status == "booked"


def _paid(reg_id: int) -> Payment:
    registration = Registration.objects.get(pk=reg_id)
    now = clock.now()
    return Payment.objects.create(
        hold=registration.hold,
        registration=registration,
        account=registration.account,
        hospital=registration.hospital,
        provider="sandbox",
        method="wechat",
        out_trade_no=f"T{registration.pk:010d}",
        registration_fee_fen=registration.registration_fee_fen,
        consultation_fee_fen=registration.consultation_fee_fen,
        amount_fen=registration.fee_fen,
        status="paid",
        created_at=now,
        paid_at=now,
    )


def test_a_paid_registration_moves_with_its_payment_to_a_clinic_of_the_same_fee(api, booked):
    reg = booked["reg"]
    payment = _paid(reg["id"])
    status, moved = api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": booked["later"].pk})
    assert status == 200, moved
    assert moved["payment"]["status"] == "paid" and moved["payment"]["amount_fen"] == 5100
    payment.refresh_from_db()
    assert payment.registration_id == int(moved["id"])

    # cancelled later, the payment is refunded whole from the new registration
    status, cancelled = api.call("POST", f"/registrations/{moved['id']}/cancel", {})
    assert status == 200 and cancelled["status"] == "refunding"
    refund = Refund.objects.get(payment=payment)
    assert refund.amount_fen == 5100


def test_a_paid_registration_is_not_moved_to_a_clinic_of_another_fee(api, booked):
    reg = booked["reg"]
    payment = _paid(reg["id"])
    general = f.schedule(booked["dep"], f.doctor(booked["dep"], name="孙普通", title="general"))
    before = _state(reg["id"])

    status, problem = api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": general.pk})

    assert (status, problem["code"], problem["field"]) == (409, "reschedule.fee_differs", "schedule_id")
    assert (problem["fee_fen"], problem["paid_fen"]) == (1000, 5100)
    assert _state(reg["id"]) == before
    payment.refresh_from_db()
    assert payment.registration_id == int(reg["id"]) and not Refund.objects.exists()


def test_an_unpaid_registration_moves_to_another_fee_where_nothing_is_charged_online(api, booked):
    reg = booked["reg"]
    general = f.schedule(booked["dep"], f.doctor(booked["dep"], name="孙普通", title="general"))
    status, moved = api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": general.pk})
    assert status == 200, moved
    assert moved["fee_fen"] == 1000 and moved["payment"] is None


def test_a_moved_registration_cannot_be_moved_or_cancelled_again(api, booked):
    reg = booked["reg"]
    api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": booked["later"].pk})
    status, problem = api.call(
        "POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": booked["afternoon"].pk}
    )
    assert (status, problem["code"]) == (409, "registration.state")
    status, problem = api.call("POST", f"/registrations/{reg['id']}/cancel", {})
    assert (status, problem["code"]) == (409, "registration.state")
    assert Registration.objects.filter(status="booked").count() == 1


def test_the_statistics_count_a_moved_registration_once_as_the_one_it_became(api, booked):
    from guahao.booking import stats

    reg = booked["reg"]
    api.call("POST", f"/registrations/{reg['id']}/reschedule", {"schedule_id": booked["later"].pk})
    window = stats.StatsFilter(date_from=f.today(), date_to=f.today() + dt.timedelta(days=5))
    assert stats.totals(window)["booked"] == 1
    by_day = {row["key"]: row["booked"] for row in stats.by_day(window)}
    assert by_day[booked["tomorrow"].date.isoformat()] == 0 and by_day[booked["later"].date.isoformat()] == 1
