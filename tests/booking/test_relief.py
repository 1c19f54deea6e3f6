"""Relief slots (救济): staff give a named patient an extra slot of a full clinic, with a reason
and a second staff member's approval; audited and counted apart."""

from __future__ import annotations

import datetime as dt

import pytest

from guahao.accounts.models import Patient
from guahao.accounts.services import staff_token_create
from guahao.booking import stats
from guahao.booking.models import Registration, ReliefGrant
from guahao.core.models import AuditEntry
from guahao.scheduling.models import Slot, SlotState
from tests import factories as f

pytestmark = pytest.mark.django_db


def _desk(username, role, h):
    client = f.Api()
    client.token = staff_token_create(user=f.staff_member(username, role, h))
    return client


@pytest.fixture
def full():
    """A clinic of two slots, both booked."""
    h = f.hospital()
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), slots_per_period=1)
    for _ in range(2):
        app = f.Api().login()
        _, hold = app.call("POST", "/holds", {"schedule_id": clinic.pk, "patient_id": app.add_patient()})
        assert app.call("POST", f"/holds/{hold['id']}/confirm", {})[0] == 201
    return h, clinic


def _ask(client, clinic, reason="胸痛复诊，病情紧急"):
    person = {"name": "李秀英", "id_number": f.id_number("19460101"), "phone": f.phone()}
    return client.call("POST", "/staff/relief", {"schedule_id": clinic.pk, "reason": reason, **person})


def test_a_relief_slot_is_asked_approved_by_another_and_booked_apart(full):
    h, clinic = full
    desk = _desk("desk1", "window_clerk", h)
    admin = _desk("boss1", "hospital_admin", h)
    status, asked = _ask(desk, clinic)
    assert status == 201 and asked["status"] == "requested" and asked["registration_number"] is None
    assert asked["patient"]["id_number_masked"].count("*") == 8
    assert Registration.objects.count() == 2  # nothing booked yet

    status, problem = desk.call("POST", f"/staff/relief/{asked['id']}/approve", {})
    assert status == 403  # a clerk may ask, not approve
    status, done = admin.call("POST", f"/staff/relief/{asked['id']}/approve", {"note": "同意"})

    assert status == 200, done
    assert done["status"] == "approved" and done["decided_by"] == "boss1" and done["registration_number"]
    registration = Registration.objects.get(registration_number=done["registration_number"])
    assert registration.status == "booked" and registration.slot_number == 3 and registration.patient.name == "李秀英"
    slot = Slot.objects.get(pk=registration.slot_id)
    assert slot.extra and slot.state == SlotState.BOOKED
    actions = list(AuditEntry.objects.filter(target_type="relief").values_list("actor", "action"))
    assert ("desk1", "relief.requested") in actions and ("boss1", "relief.approved") in actions
    window = stats.StatsFilter(date_from=f.today(), date_to=f.today() + dt.timedelta(days=2))
    totals = stats.totals(window)
    assert (totals["booked"], totals["relief"]) == (3, 1)
    status, problem = admin.call("POST", f"/staff/relief/{asked['id']}/approve", {})
    assert (status, problem["code"]) == (409, "relief.decided")
    assert Registration.objects.count() == 3


def test_whoever_asked_cannot_approve_and_a_refusal_books_nothing(full):
    h, clinic = full
    admin = _desk("boss2", "hospital_admin", h)
    status, asked = _ask(admin, clinic)
    status, problem = admin.call("POST", f"/staff/relief/{asked['id']}/approve", {})
    assert (status, problem["code"]) == (403, "relief.own_request")
    assert ReliefGrant.objects.get(pk=asked["id"]).status == "requested"
    other = _desk("boss3", "hospital_admin", h)
    status, done = other.call("POST", f"/staff/relief/{asked['id']}/refuse", {"note": "可挂其他医生"})
    assert status == 200 and done["status"] == "refused"
    assert Registration.objects.count() == 2 and not Slot.objects.filter(extra=True).exists()


def test_a_relief_request_needs_a_reason(full):
    h, clinic = full
    patients = Patient.objects.count()
    status, problem = _ask(_desk("desk4", "operator", h), clinic, reason=" ")
    assert (status, problem["code"], problem["field"]) == (422, "staff.reason_required", "reason")
    assert not ReliefGrant.objects.exists()
    assert Patient.objects.count() == patients  # nor the person it named: nothing was written


def _made_by(admin_user, username, h):
    """An operator whose account ``admin_user`` made in the console, with a password they chose."""
    from django.contrib.auth import get_user_model

    from guahao.accounts import staff

    user = get_user_model()(username=username)
    staff.staff_member_save(by=admin_user, user=user, password="chosen-by-admin-1", role="operator", hospital=h)
    client = f.Api()
    client.token = staff_token_create(user=user)
    return user, client


def test_an_admin_cannot_approve_what_an_account_they_made_asked(full):
    """A hospital admin who makes an operator knows its password: they could ask as the operator
    and approve as themselves. Another admin must approve; refusing stays open to them."""
    h, clinic = full
    boss = f.staff_member("boss5", "hospital_admin", h)
    admin = f.Api()
    admin.token = staff_token_create(user=boss)
    operator, as_operator = _made_by(boss, "op5", h)
    _, asked = _ask(as_operator, clinic)

    status, problem = admin.call("POST", f"/staff/relief/{asked['id']}/approve", {})
    assert (status, problem["code"]) == (403, "relief.asker_keys")
    admin.language = "en"
    status, problem = admin.call("POST", f"/staff/relief/{asked['id']}/approve", {})
    assert "another admin approves" in problem["detail"]
    admin.language = "zh-Hans"
    assert "另一位管理员" in admin.call("POST", f"/staff/relief/{asked['id']}/approve", {})[1]["detail"]
    assert ReliefGrant.objects.get(pk=asked["id"]).status == "requested"
    assert Registration.objects.count() == 2

    operator.username = "op5-renamed"  # a new name does not hide who made the account
    operator.save()
    _, asked_again = _ask(as_operator, clinic, reason="复诊，病情加重")
    status, problem = admin.call("POST", f"/staff/relief/{asked_again['id']}/approve", {})
    assert (status, problem["code"]) == (403, "relief.asker_keys")
    status, done = admin.call("POST", f"/staff/relief/{asked_again['id']}/refuse", {"note": "请另约"})
    assert status == 200 and done["status"] == "refused"

    status, done = _desk("boss6", "hospital_admin", h).call("POST", f"/staff/relief/{asked['id']}/approve", {})
    assert status == 200 and done["status"] == "approved" and done["registration_number"]


@pytest.mark.parametrize("keys", ["password", "second factor"])
def test_an_admin_who_reset_an_accounts_sign_in_cannot_approve_its_requests(full, keys):
    from django.contrib.auth import get_user_model

    from guahao.accounts import staff

    h, clinic = full
    boss = f.staff_member("boss7", "hospital_admin", h)
    admin = f.Api()
    admin.token = staff_token_create(user=boss)
    _, asked = _ask(_desk("desk7", "window_clerk", h), clinic)
    clerk = get_user_model().objects.get(username="desk7")
    staff.staff_member_save(by=boss, user=clerk, changed=["first_name"])  # a name: not the keys
    assert not staff.staff_keys_set_by(by="boss7", asker="desk7")

    if keys == "password":
        staff.staff_member_save(by=boss, user=clerk, password="reset-by-admin-1", changed=["new_password"])
    else:
        staff.otp_reset(by=boss, user=clerk)

    status, problem = admin.call("POST", f"/staff/relief/{asked['id']}/approve", {})
    assert (status, problem["code"]) == (403, "relief.asker_keys")
    assert ReliefGrant.objects.get(pk=asked["id"]).status == "requested"
